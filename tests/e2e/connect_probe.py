#!/usr/bin/env python3
"""connect_probe.py HOST PORT [TIMEOUT] [udp]: can this host reach HOST:PORT?
Prints "open", "refused" or "timeout" (for UDP: sends a DNS query for
www.foobar.com and prints "open" when anything answers). Run inside a lab
host with `tristack exec HOST python3 connect_probe.py ...`."""
import socket
import sys

host, port = sys.argv[1], int(sys.argv[2])
timeout = float(sys.argv[3]) if len(sys.argv) > 3 else 1.5
udp = len(sys.argv) > 4 and sys.argv[4] == "udp"
if udp:
    q = bytes.fromhex("abcd01000001000000000000") + b"\x03www\x06foobar\x03com\x00\x00\x01\x00\x01"
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.sendto(q, (host, port))
        s.recvfrom(4096)
        print("open")
    except socket.timeout:
        print("timeout")
    except ConnectionRefusedError:
        print("refused")
    sys.exit(0)
try:
    socket.create_connection((host, port), timeout=timeout).close()
    print("open")
except socket.timeout:
    print("timeout")
except ConnectionRefusedError:
    print("refused")
except OSError as e:
    print(f"error {e.errno}")
