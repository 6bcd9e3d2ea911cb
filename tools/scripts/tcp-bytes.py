#!/usr/bin/python3
"""Runs tcp-bytes.bt around a command and prints, per TCP connection of this
machine that reached ESTABLISHED meanwhile, what its program sent and read:
    SPORT DPORT TX RX
sorted.  With --compare DUMP TRACE... first, holds every end of every row of
`DUMP -c --json TRACE...` to the kernel's numbers and prints the differences
(exit 1 when there are any).
    tcp-bytes.py [--compare build/socktrace-dump a.trace --] command args..."""
import os, re, signal, subprocess, sys, time

compare = None
args = sys.argv[1:]
if args[:1] == ['--compare']:
    end = args.index('--')
    compare, args = args[1:end], args[end + 1:]

here = os.path.dirname(os.path.abspath(__file__))
bt = subprocess.Popen(['bpftrace', os.path.join(here, 'tcp-bytes.bt')],
                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
for first in bt.stdout:  # a warning about RLIMIT_MEMLOCK may come first
    if first.startswith('Attaching'):
        break
rc = subprocess.call(args)
time.sleep(1)  # late FINs and reads of the orphaned sockets
bt.send_signal(signal.SIGINT)
out = bt.stdout.read()
conns, current = [], {}
for line in out.splitlines():
    m = re.match(r'(est|end) (\S+) (\d+) (\d+)', line)
    if m and m.group(1) == 'est':
        current[m.group(2)] = [int(m.group(3)), int(m.group(4)), 0, 0]
        conns.append(current[m.group(2)])
    elif m and m.group(2) in current:
        current[m.group(2)][2:] = [int(m.group(3)), int(m.group(4))]
    m = re.match(r'@(tx|rx)\[(\S+)\]: (\d+)', line)
    if m and m.group(2) in current:
        current[m.group(2)][2 if m.group(1) == 'tx' else 3] = int(m.group(3))
kernel = {}
for c in sorted(conns):
    print('%d %d %d %d' % tuple(c))
    kernel[(c[0], c[1])] = (c[2], c[3])
if compare:
    import json
    rows = subprocess.run([compare[0], '-c', '--json'] + compare[1:], check=True,
                          capture_output=True, text=True).stdout
    ends = diffs = 0
    for line in rows.splitlines():
        row = json.loads(line)
        for side, other in (('client', 'server'), ('server', 'client')):
            end = row.get(side)
            if not end or row.get('tx_bytes') is None or end['local'].get('port') is None:
                continue
            # a row's tx/rx are the client's; a server end has its own
            # counts (server_tx_bytes), else sees the client's swapped
            if side == 'client':
                want = (row['tx_bytes'], row['rx_bytes'])
            elif row.get('server_tx_bytes') is not None:
                want = (row['server_tx_bytes'], row['server_rx_bytes'])
            else:
                want = (row['rx_bytes'], row['tx_bytes'])
            got = kernel.get((end['local']['port'], end['peer']['port']))
            ends += 1
            if got != want:
                diffs += 1
                print('DIFF %s %d->%d socktrace tx=%d rx=%d kernel %s' % (
                    side, end['local']['port'], end['peer']['port'], want[0], want[1], got))
    print('compared %d ends: %d differences' % (ends, diffs))
    rc = rc or (1 if diffs else 0)
sys.exit(rc)
