"""A small server for tests/test_record.py: sets its sockets up as real servers do, serves one client, exits.

python3 server.py PORT: two TCP listeners share 127.0.0.1:PORT through SO_REUSEPORT (as a pre-forking
server's workers do), one of them serves one connection; a server option the format knows (TCP_KEEPIDLE),
calls it has no word for (IP_TOS, SO_TYPE) and a UDP socket connected beyond loopback (192.0.2.1,
TEST-NET-1: a UDP connect sends nothing), which the recorder must refuse.
"""
import socket
import sys

port = int(sys.argv[1])
listeners = []
for _ in range(2):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind(("127.0.0.1", port))
    s.listen(16)
    listeners.append(s)
first = listeners[0]
first.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT)
first.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, 30)
first.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, 16)
first.getsockopt(socket.SOL_SOCKET, socket.SO_TYPE)
listeners[1].close()  # the client now reaches `first`, whatever the kernel's hash
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
udp.connect(("192.0.2.1", 53))
udp.close()
print("ready", flush=True)
conn, _ = first.accept()
conn.sendall(b"hello\n")
conn.shutdown(socket.SHUT_WR)
conn.close()
first.close()
