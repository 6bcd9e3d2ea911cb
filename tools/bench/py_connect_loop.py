# make bench: the connect loop run by python3, and an HTTP client loop
# (http.client to a server thread), each dial three functions deep as in an
# application; prints the process's CPU ns per iteration (all its threads:
# the time a traced call adds, not the waits around it).
import http.client
import http.server
import socket
import sys
import threading
import time


def dial(port):
    return socket.create_connection(("127.0.0.1", port))


def open_conn(port):
    return dial(port)


def fetch(port):
    return open_conn(port)


def connect_loop(n):
    srv = socket.create_server(("127.0.0.1", 0), backlog=128)
    port = srv.getsockname()[1]
    t0 = time.process_time_ns()
    for _ in range(n):
        c = fetch(port)
        a, _ = srv.accept()
        c.close()
        a.close()
    return (time.process_time_ns() - t0) / n


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


def get_config(port):
    conn = http.client.HTTPConnection("127.0.0.1", port)
    conn.request("GET", "/")
    body = conn.getresponse().read()
    conn.close()
    return body


def http_loop(n):
    srv = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    port = srv.server_address[1]
    t0 = time.process_time_ns()
    for _ in range(n):
        get_config(port)
    took = (time.process_time_ns() - t0) / n
    srv.shutdown()
    return took


if __name__ == "__main__":
    which, n = sys.argv[1], int(sys.argv[2])
    print("%.0f" % (connect_loop(n) if which == "connect" else http_loop(n)))
