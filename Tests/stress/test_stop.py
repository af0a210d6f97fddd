"""Stopping under churn: SIGTERM arriving while clients are still hanging up, or while their
sessions are open, must end the daemon with exit status 0 and its "stopped" line, every time.

A daemon's threads (accept loop, event loops, resolver and audit threads) are still winding down
when the main thread returns; libraries' exit-time clean-up (OpenSSL's atexit handler) once freed
state one of them was still using, and the daemon died of SIGSEGV instead of exiting 0. It showed
about once in forty stops on a loaded machine, so the stop is repeated ROUNDS times, each right
after a burst of logins that hang up.
"""

import threading

from stresslib import wait_for

ROUNDS = 30
CLIENTS = 5  # per_source_max_startups defaults to 5


def _login(daemon, errors, transports, hang_up):
    try:
        transport = daemon.paramiko_transport("alex")
    except Exception as error:
        errors.append(error)
        return
    if hang_up:
        transport.close()
    else:
        transports.append(transport)


def test_sigterm_while_clients_hang_up_exits_0_every_time(start_daemon, measure):
    codes = []
    for round in range(ROUNDS):
        daemon = start_daemon({"alex": 'permit_open: ["127.0.0.1:1"]'})
        errors, transports = [], []
        # Odd rounds: the clients hang up just before the signal; even rounds: the stop ends them.
        hang_up = round % 2 == 1
        clients = [threading.Thread(target=_login, args=(daemon, errors, transports, hang_up)) for _ in range(CLIENTS)]
        for client in clients:
            client.start()
        for client in clients:
            client.join(20)
        assert not errors, f"{errors}; log:\n{daemon.stderr_tail()}"
        # The last hang-ups are still being handled, or the sessions are open, when the signal arrives.
        daemon.expect_exit = True
        code = daemon.stop()
        codes.append(code)
        for transport in transports:
            transport.close()
        assert code == 0, f"round {len(codes)}: {daemon.describe_exit()}; last log lines:\n{daemon.stderr_tail()}"
        wait_for(lambda: "stopped" in daemon.stderr(), "the daemon's stopped line", timeout=5)
    measure("stops, all exit 0", len(codes))
