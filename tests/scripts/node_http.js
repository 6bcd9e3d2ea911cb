// An HTTP server and a client in one node process: N requests, each on a
// connection of its own (agent: false), then both close.  libuv closes its
// sockets with syscall(SYS_close), not close().
'use strict';
const http = require('http');
const n = Number(process.argv[2] || 5);
const body = 'x'.repeat(Number(process.argv[3] || 1000));

const server = http.createServer((req, res) => {
  res.setHeader('Connection', 'close');
  res.end(body);
});

function fetchOne(port) {
  return new Promise((resolve, reject) => {
    const req = http.get({host: '127.0.0.1', port, path: '/', agent: false}, (res) => {
      let got = 0;
      res.on('data', (d) => { got += d.length; });
      res.on('end', () => resolve(got));
    });
    req.on('error', reject);
  });
}

server.listen(0, '127.0.0.1', async () => {
  const port = server.address().port;
  let total = 0;
  for (let i = 0; i < n; i++)
    total += await fetchOne(port);
  server.close(() => console.log(`requests=${n} bytes=${total}`));
});
