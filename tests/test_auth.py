"""Sign-in: the users file, password hashing, the `users` command and the app's sign-in page."""

from __future__ import annotations

import json
import multiprocessing
import stat
import subprocess
import sys
import threading
import time
from argparse import Namespace
from pathlib import Path

import pytest
from streamlit import config as st_config
from streamlit.testing.v1 import AppTest

from cli import users as users_cli
from geo import access
from geo import store as geo_store
from geo.access import Throttle, User, Viewer, signin
from geo.access.releasability import is_partner
from geo.core import settings
from geo.core.errors import ValidationError

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "correct horse battery staple"


@pytest.fixture
def users_file(tmp_path) -> Path:
    path = tmp_path / "users.json"
    access.add_user(path, "alice", partner="LTU", roles="analyst,commander", password=PASSWORD)
    return path


# ---- hashing and the users file -------------------------------------------------------------


def test_file_holds_no_plaintext_and_is_private(users_file):
    text = users_file.read_text()
    assert PASSWORD not in text
    entry = json.loads(text)["users"]["alice"]
    assert entry["partner"] == "LTU"
    assert entry["roles"] == ["analyst", "commander"]
    assert entry["password"].startswith(f"scrypt${settings.SCRYPT_N}${settings.SCRYPT_R}$")
    assert stat.S_IMODE(users_file.stat().st_mode) == 0o600
    # no temp file left; the lock file stays (removing it would let two writers lock two files)
    assert sorted(p.name for p in users_file.parent.iterdir()) == [".users.json.lock", "users.json"]


def test_salt_differs_for_the_same_password():
    a, b = access.hash_password(PASSWORD, n=2**10), access.hash_password(PASSWORD, n=2**10)
    assert a != b
    assert a.split("$")[4] != b.split("$")[4]
    assert access.check_password(PASSWORD, a)
    assert access.check_password(PASSWORD, b)


def test_verify(users_file):
    user = access.verify(users_file, "alice", PASSWORD)
    assert user == User("alice", "LTU", frozenset({"analyst", "commander"}))
    assert "scrypt" not in repr(user)
    assert access.verify(users_file, "alice", PASSWORD + "!") is None
    assert access.verify(users_file, "mallory", PASSWORD) is None
    assert access.verify(users_file, "alice", "") is None


@pytest.mark.parametrize(
    ("content", "match"),
    [
        ("{not json", "not valid JSON"),
        ('{"version": 1}', 'expected an object with a "users" object'),
        ('{"version": 2, "users": {}}', "expected version 1, got 2"),
        (
            '{"version": 1, "users": {"a": {"partner": "LTU", "roles": ["pilot"], "password": "x"}}}',
            "roles must be a list from analyst, commander, briefer, planner, admin",
        ),
        (
            '{"version": 1, "users": {"a": {"partner": "LTU", "roles": ["analyst"], "password": "plain"}}}',
            "password is not a valid scrypt hash",
        ),
        (
            '{"version": 1, "users": {"a": {"partner": "LTU", "roles": ["analyst"]}}}',
            "no password hash",
        ),
    ],
)
def test_malformed_file_names_the_file(tmp_path, content, match):
    path = tmp_path / "users.json"
    path.write_text(content)
    with pytest.raises(ValidationError, match=match) as err:
        access.load_users(path)
    assert str(path) in str(err.value)
    with pytest.raises(ValidationError, match="users file"):
        access.demo_mode(path)  # fails closed: a broken file is not demo mode


def test_demo_mode(tmp_path, users_file):
    assert access.demo_mode(tmp_path / "missing.json")
    assert not access.demo_mode(users_file)
    access.remove_user(users_file, "alice")
    assert access.demo_mode(users_file)


@pytest.mark.parametrize(
    ("host", "local"),
    [
        ("localhost", True),
        ("LOCALHOST:8501", True),
        ("127.0.0.1:8501", True),
        ("127.0.0.1", True),
        ("[::1]:8501", True),
        ("[::1]", True),
        ("rebind.example:8501", False),
        ("localhost.rebind.example", False),
        ("127.0.0.1.nip.io:8501", False),
        ("localhost:85o1", False),
        ("[::1]x", False),
        ("[::2]:8501", False),
        ("192.168.1.5:8501", False),
        ("", False),
    ],
)
def test_host_is_local(host, local):
    assert access.host_is_local({"Host": host, "Upgrade": "websocket"}) is local


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"roles": "pilot"},
            r"unknown role 'pilot': expected one of analyst, commander, briefer, planner, admin",
        ),
        ({"roles": ""}, "no role given"),
        ({"password": ""}, "empty"),
        ({"password": "short"}, f"at least {settings.PASSWORD_MIN_CHARS} characters, got 5"),
        ({"partner": " "}, "--partner: expected a partner code"),
        ({"name": "bad name"}, "user name: expected"),
        ({"name": "carol", "password": "CAROL"}, "at least"),
    ],
)
def test_add_user_rejects(tmp_path, kwargs, match):
    args = {"name": "bob", "partner": "POL", "roles": "commander", "password": PASSWORD} | kwargs
    path = tmp_path / "users.json"
    with pytest.raises(ValidationError, match=match):
        access.add_user(path, args.pop("name"), **args)
    assert not path.exists()


@pytest.mark.parametrize(
    "partner",
    ["LTU", "ltu", "a.b-c_1", "X" * 64, "X" * 65, "ALL", "all", "_LTU", "LT U", "LTU,POL", "", "Ł"],
)
def test_a_users_partner_follows_the_releasability_rule(partner):
    # One rule of what a partner id is (releasability.is_partner), the users file's own message.
    if is_partner(partner):
        access.check_account("bob", partner=partner, roles="commander")
    else:
        with pytest.raises(ValidationError, match="--partner: expected a partner code"):
            access.check_account("bob", partner=partner, roles="commander")


def test_add_updates_and_remove_unknown(users_file):
    _, created = access.add_user(
        users_file, "alice", partner="POL", roles=["briefer"], password=PASSWORD
    )
    assert not created
    assert access.load_users(users_file)["alice"].partner == "POL"
    with pytest.raises(ValidationError, match=r"no user 'bob' \(users: alice\)"):
        access.remove_user(users_file, "bob")


def _add_users_in_step(users_file: str, worker: int, barrier, rounds: int) -> None:
    for k in range(rounds):
        barrier.wait()  # every worker changes the file at the same moment
        access.add_user(
            users_file, f"user{worker}x{k}", partner="LTU", roles="commander", password=PASSWORD
        )


@pytest.mark.parametrize("password", [PASSWORD, "", None], ids=["same", "empty", "none"])
def test_a_role_change_keeps_the_password_hash(users_file, password):
    stored = json.loads(users_file.read_text())["users"]["alice"]["password"]
    user, created = access.add_user(
        users_file, "alice", partner="POL", roles="briefer", password=password
    )
    assert not created
    assert (user.partner, user.roles) == ("POL", frozenset({"briefer"}))
    assert json.loads(users_file.read_text())["users"]["alice"]["password"] == stored
    assert access.verify(users_file, "alice", PASSWORD) is not None


def test_a_new_password_is_hashed_again(users_file):
    before = access.load_users(users_file)["alice"]
    access.add_user(
        users_file, "alice", partner="LTU", roles="commander", password=PASSWORD + " again"
    )
    after = access.load_users(users_file)["alice"]
    assert after.stamp != before.stamp
    assert access.verify(users_file, "alice", PASSWORD) is None
    assert access.verify(users_file, "alice", PASSWORD + " again") is not None


def test_cli_empty_password_keeps_an_existing_users_password(users_file):
    stored = json.loads(users_file.read_text())["users"]["alice"]["password"]
    proc = geo_users(
        "add",
        "alice",
        "--partner",
        "LTU",
        "--roles",
        "commander",
        "--password-stdin",
        "--users-file",
        str(users_file),
        stdin="\n",
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["user"]["roles"] == ["commander"]
    assert json.loads(users_file.read_text())["users"]["alice"]["password"] == stored
    # An OIDC user has no password to keep: an empty one is refused.
    access.add_user(users_file, "bob@example.org", partner="POL", roles="commander", oidc=True)
    proc = geo_users(
        "add",
        "bob@example.org",
        "--partner",
        "POL",
        "--roles",
        "commander",
        "--password-stdin",
        "--users-file",
        str(users_file),
        stdin="\n",
    )
    assert proc.returncode == 2
    assert "empty" in proc.stderr


def test_users_added_at_the_same_time_are_all_kept(tmp_path, monkeypatch):
    # Each add reads the file, adds its user and writes it again: without the lock, two
    # adds at once write what each read, and one user is lost.
    # A spawned child re-runs the parent's __main__; after an AppTest that is app.py (the
    # script runner leaves it in sys.modules), which has no business running in a worker.
    import types

    monkeypatch.setitem(sys.modules, "__main__", types.ModuleType("__main__"))
    users_file = tmp_path / "users.json"
    workers, rounds = 6, 4
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(workers)
    procs = [
        ctx.Process(target=_add_users_in_step, args=(str(users_file), w, barrier, rounds))
        for w in range(workers)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=120)
        assert proc.exitcode == 0
    assert set(access.load_users(users_file)) == {
        f"user{w}x{k}" for w in range(workers) for k in range(rounds)
    }


def test_removing_from_a_missing_users_file_creates_nothing(tmp_path):
    with pytest.raises(ValidationError, match="no user 'bob'"):
        access.remove_user(tmp_path / "nowhere" / "users.json", "bob")
    assert not (tmp_path / "nowhere").exists()


def test_roles_and_viewer():
    admin = User("root", "LTU", frozenset({"admin"}))
    assert all(admin.can(r) for r in settings.ROLES)
    analyst = Viewer.for_user(User("a", "LTU", frozenset({"analyst"})))
    assert analyst.can("analyst")
    assert not analyst.can("briefer")
    assert analyst.visible_partners(["LTU", "POL"]) == ["LTU"]
    demo = Viewer.demo_viewer()
    assert demo.demo
    assert demo.partner is None
    assert all(demo.can(r) for r in settings.ROLES)
    with pytest.raises(ValueError, match="unknown role 'pilot': expected one of"):
        analyst.can("pilot")


def test_oidc_users(tmp_path):
    path = tmp_path / "users.json"
    access.add_user(path, "Bob@Example.org", partner="POL", roles="commander", oidc=True)
    users = access.load_users(path)
    assert access.oidc_user(users, "bob@example.ORG").partner == "POL"
    assert "password" not in json.loads(path.read_text())["users"]["bob@example.org"]
    assert access.verify(path, "bob@example.org", "") is None  # no password sign-in
    with pytest.raises(ValidationError, match="e-mail address"):
        access.add_user(path, "bob", partner="POL", roles="commander", oidc=True)
    assert not access.oidc_configured({})
    assert access.oidc_configured(
        {"auth": {"client_id": "x", "redirect_uri": "u", "cookie_secret": "s"}}
    )


def test_throttle_doubles_and_caps():
    now = [0.0]
    t = Throttle(max_failures=2, lockout_s=10, max_lockout_s=25, clock=lambda: now[0])
    for _ in range(2):
        assert t.attempt(["k"]) == 0
    assert t.wait_s("k") == 10
    assert t.attempt(["k"]) == 10  # refused while locked, and not counted
    for wait in (20, 25):
        now[0] += 100
        assert t.attempt(["k"]) == 0
        assert t.wait_s("k") == wait
    assert t.wait_s("other") == 0


def test_throttle_refund_and_success():
    now = [0.0]
    t = Throttle(max_failures=2, lockout_s=10, clock=lambda: now[0])
    t.attempt(["a"])
    t.attempt(["a"])
    now[0] = 50.0  # the lock ran out
    assert t.attempt(["a"]) == 0  # one attempt, which locks the key again meanwhile
    assert t.wait_s("a") == 20
    t.refund("a")  # it succeeded: back to before it (run out, two failures)
    assert t.wait_s("a") == 0
    assert t.attempt(["a"]) == 0
    assert t.wait_s("a") == 20  # the next failure still doubles
    t.success("a")
    assert t.wait_s("a") == 0
    assert len(t) == 0


def test_throttle_limit_per_key():
    t = Throttle(max_failures=1)
    keys = {"address:x": 3, "user:a": 1}
    assert t.attempt(keys) == 0
    assert t.wait_s("user:a") > 0
    assert t.wait_s("address:x") == 0
    assert t.attempt({"address:x": 3, "user:b": 1}) == 0
    assert t.attempt({"address:x": 3, "user:c": 1}) == 0
    assert t.attempt({"address:x": 3, "user:d": 1}) > 0  # the address's third failure locks it
    assert t.wait_s("user:d") == 0  # a refused attempt records nothing


SIGN_IN_THREADS = 10


@pytest.mark.parametrize("after_lockout", [False, True], ids=["from-zero", "after-lockout"])
def test_parallel_sign_ins_share_one_budget(users_file, monkeypatch, after_lockout):
    # Ten browser sessions (threads of one Streamlit process, as the server runs them) try
    # alice at once: nine wrong passwords and the right one. Every password check is held
    # until all ten attempts have been checked or refused, so all ten arrive while no check
    # has finished. Only the budget's slots may be checked: from zero failures max_failures,
    # right after a lock-out ran out one. The right password signs in only if it got a slot.
    now = [1000.0]
    throttle = Throttle(max_failures=3, lockout_s=30, clock=lambda: now[0])
    budget = 3
    if after_lockout:
        for i in range(3):
            assert (
                access.authenticate(
                    users_file,
                    "alice",
                    "wrong guess",
                    throttle=throttle,
                    session=f"old{i}",
                    address=None,
                ).user
                is None
            )
        now[0] += 31.0  # the 30 s lock-out has run out
        budget = 1
    checked: list[str] = []
    refused: list[str] = []
    lock = threading.Lock()
    release = threading.Event()
    real_check = access.check_password

    def held_check(password: str, encoded: str) -> bool:
        with lock:
            checked.append(password)
        assert release.wait(60)
        return real_check(password, encoded)

    monkeypatch.setattr(signin, "check_password", held_check)
    passwords = [f"wrong guess {i}" for i in range(SIGN_IN_THREADS - 1)] + [PASSWORD]
    results: dict[str, access.SignIn] = {}
    start = threading.Barrier(SIGN_IN_THREADS)

    def sign_in_thread(i: int, password: str) -> None:
        start.wait()
        result = access.authenticate(
            users_file,
            "alice",
            password,
            throttle=throttle,
            session=f"session{i}",
            address="198.51.100.7",
        )
        with lock:
            results[password] = result
            if result.wait_s > 0:
                refused.append(password)

    threads = [
        threading.Thread(target=sign_in_thread, args=(i, pw)) for i, pw in enumerate(passwords)
    ]
    for th in threads:
        th.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with lock:
            if len(checked) + len(refused) >= SIGN_IN_THREADS:
                break
        time.sleep(0.01)
    with lock:
        checked_now, refused_now = list(checked), list(refused)
    release.set()
    for th in threads:
        th.join(60)
    assert len(checked_now) == budget, checked_now
    assert len(refused_now) == SIGN_IN_THREADS - budget
    assert sorted(checked_now + refused_now) == sorted(passwords)
    signed_in = [pw for pw, r in results.items() if r.user is not None]
    assert signed_in == ([PASSWORD] if PASSWORD in checked_now else [])
    assert all(results[pw].user is None and results[pw].wait_s > 0 for pw in refused_now)


def test_right_password_is_refused_once_parallel_attempts_used_the_budget(users_file, monkeypatch):
    # Nine wrong passwords at once use the budget while their checks still run; the right
    # password, sent then, is refused unchecked.
    throttle = Throttle(max_failures=5)
    checked: list[str] = []
    lock = threading.Lock()
    release = threading.Event()
    real_check = access.check_password

    def held_check(password: str, encoded: str) -> bool:
        with lock:
            checked.append(password)
        if password != PASSWORD:
            assert release.wait(60)
        return real_check(password, encoded)

    monkeypatch.setattr(signin, "check_password", held_check)
    done: list[access.SignIn] = []
    start = threading.Barrier(9)

    def wrong(i: int) -> None:
        start.wait()
        done.append(
            access.authenticate(
                users_file,
                "alice",
                f"wrong guess {i}",
                throttle=throttle,
                session=f"s{i}",
                address=None,
            )
        )

    threads = [threading.Thread(target=wrong, args=(i,)) for i in range(9)]
    for th in threads:
        th.start()
    deadline = time.monotonic() + 60
    while len(checked) + len(done) < 9 and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        right = access.authenticate(
            users_file, "alice", PASSWORD, throttle=throttle, session="s9", address=None
        )
    finally:
        release.set()
        for th in threads:
            th.join(60)
    assert len(checked) == 5
    assert right.user is None
    assert right.wait_s > 0
    assert PASSWORD not in checked
    assert [r.wait_s > 0 for r in done].count(True) == 4
    assert all(r.user is None for r in done)


def test_a_success_clears_the_name_but_not_the_address():
    throttle = Throttle(max_failures=2)
    keys = {"session:s": 2, "user:alice": 2, "address:a": 3}
    throttle.attempt(keys)  # a wrong password...
    throttle.attempt(keys)  # ...and the right one:
    for key in ("session:s", "user:alice"):
        throttle.success(key)
    throttle.refund("address:a")
    assert throttle.wait_s("user:alice") == 0
    assert throttle.attempt({"address:a": 3, "user:bob": 2}) == 0  # the address's 2nd failure
    assert throttle.attempt({"address:a": 3, "user:carol": 2}) == 0  # its 3rd: locked now
    assert throttle.wait_s("address:a") > 0


def test_per_address_limit_across_user_names(users_file):
    limit = settings.SIGNIN_MAX_FAILURES_PER_ADDRESS
    assert limit is not None
    assert limit > settings.SIGNIN_MAX_FAILURES
    on_by_default = Throttle()
    access.authenticate(
        users_file,
        "alice",
        "wrong guess",
        throttle=on_by_default,
        session="s",
        address="203.0.113.9",
    )
    assert len(on_by_default) == 3  # the session, the name and the address
    t = Throttle(max_failures=100)
    for i in range(3):  # one wrong password for each of three names, from one address
        assert (
            access.authenticate(
                users_file,
                f"user{i}",
                "wrong guess",
                throttle=t,
                session=f"s{i}",
                address="203.0.113.9",
                max_failures_per_address=3,
            ).wait_s
            == 0
        )
    locked = access.authenticate(
        users_file,
        "alice",
        PASSWORD,
        throttle=t,
        session="s9",
        address="203.0.113.9",
        max_failures_per_address=3,
    )
    assert locked.user is None
    assert locked.wait_s > 0
    other = access.authenticate(
        users_file,
        "alice",
        PASSWORD,
        throttle=t,
        session="s10",
        address="203.0.113.10",
        max_failures_per_address=3,
    )
    assert other.user is not None
    assert other.user.name == "alice"


def test_junk_keys_do_not_evict_a_locked_record():
    # Each failed sign-in makes a session key and a user-name key: 5,000 junk attempts are
    # 10,000 new keys, as many as the throttle keeps. The oldest record, alice's lock, stays.
    throttle = Throttle()
    assert throttle.max_keys == 10_000
    for _ in range(settings.SIGNIN_MAX_FAILURES):
        throttle.attempt(["user:alice"])
    locked_for = throttle.wait_s("user:alice")
    assert locked_for > 0
    for i in range(5_000):
        assert throttle.attempt([f"session:{i}", f"user:junk{i}"]) == 0
    assert len(throttle) == 10_000
    assert throttle.wait_s("user:alice") > locked_for - 60
    assert throttle.attempt(["user:alice"]) > 0


def test_a_table_full_of_locks_refuses_new_keys():
    now = [0.0]
    t = Throttle(max_failures=1, lockout_s=10, max_keys=2, clock=lambda: now[0])
    assert t.attempt(["a"]) == 0
    assert t.attempt(["b"]) == 0
    assert t.attempt(["c"]) == 10  # no room without dropping a lock: refused
    assert t.wait_s("a") == t.wait_s("b") == 10
    now[0] = 10.0
    assert t.attempt(["c"]) == 0  # a's lock ran out: its record made room
    assert (t.wait_s("a"), t.wait_s("b"), t.wait_s("c")) == (0, 0, 10)
    assert len(t) == 2


def test_run_cli_list_without_file(tmp_path):
    out = users_cli.run(Namespace(users_command="list", users_file=tmp_path / "none.json"))
    assert out["users"] == []
    assert out["demo_mode"] is True


# ---- the command line -----------------------------------------------------------------------


def geo_users(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "geo", "users", *args],
        cwd=ROOT,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_cli_add_list_remove(tmp_path):
    path = str(tmp_path / "users.json")
    proc = geo_users(
        "add",
        "alice",
        "--partner",
        "LTU",
        "--roles",
        "analyst,commander",
        "--password-stdin",
        "--users-file",
        path,
        stdin=PASSWORD + "\n",
    )
    assert proc.returncode == 0, proc.stderr
    added = json.loads(proc.stdout)
    assert added["action"] == "added"
    assert added["user"]["roles"] == ["analyst", "commander"]
    assert access.verify(path, "alice", PASSWORD) is not None  # the newline is not in the password

    proc = geo_users("list", "--users-file", path)
    assert proc.returncode == 0, proc.stderr
    assert [u["name"] for u in json.loads(proc.stdout)["users"]] == ["alice"]
    assert "scrypt" not in proc.stdout
    assert PASSWORD not in proc.stdout

    proc = geo_users("remove", "alice", "--users-file", path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["demo_mode"] is True
    assert access.load_users(path) == {}


@pytest.mark.parametrize(
    ("args", "stdin", "match"),
    [
        (
            ["add", "bob", "--partner", "POL", "--roles", "pilot", "--password-stdin"],
            PASSWORD,
            "unknown role 'pilot': expected one of analyst, commander, briefer, planner, admin",
        ),
        (
            ["add", "bob", "--partner", "POL", "--roles", "commander", "--password-stdin"],
            "\n",
            "empty",
        ),
        (
            ["add", "bob", "--partner", "POL", "--roles", "commander", "--password-stdin"],
            "short\n",
            "too short",
        ),
        (["remove", "bob"], "", "no user 'bob'"),
    ],
)
def test_cli_errors_exit_2(tmp_path, args, stdin, match):
    proc = geo_users(*args, "--users-file", str(tmp_path / "users.json"), stdin=stdin)
    assert proc.returncode == 2
    assert match in proc.stderr
    assert "Traceback" not in proc.stderr


def test_cli_malformed_file_exit_2(tmp_path):
    path = tmp_path / "users.json"
    path.write_text("[]")
    proc = geo_users("list", "--users-file", str(path))
    assert proc.returncode == 2
    assert f"users file {path}" in proc.stderr


# ---- the app: AppTest of sign-in -------------------------------------------------------------

APP = f"""
import sys
sys.path.insert(0, {str(ROOT)!r})
import streamlit as st
from ui import signin
v = signin.current_viewer()
st.markdown(f"VIEWER name={{v.name}} partner={{v.partner}} demo={{v.demo}}")
assert signin.viewer() == v
st.selectbox("Partner view", signin.partner_options(v, ["LTU", "POL"]), key="partner")
"""


@pytest.fixture
def app(tmp_path, monkeypatch):
    """An AppTest of a tiny app that signs in, with its own users file (not yet created)."""
    script = tmp_path / "app.py"
    script.write_text(APP)
    monkeypatch.setenv(settings.USERS_FILE_ENV, str(tmp_path / "users.json"))
    return AppTest.from_file(str(script), default_timeout=60)


def page_text(at: AppTest) -> str:
    return " ".join(m.value for m in at.markdown)


def sign_in(at: AppTest, name: str, password: str) -> AppTest:
    at.text_input(key="signin_name").input(name)
    at.text_input(key="signin_password").input(password)
    return at.button(key="signin_submit").click().run()


def test_demo_mode_banner_and_every_view(app):
    at = app.run()
    assert not at.exception
    assert [w.value for w in at.warning] == [
        "Local demo mode: sign-in is off and every partner view is open. "
        "The app listens on localhost only."
    ]
    assert "VIEWER name=None partner=None demo=True" in page_text(at)
    assert at.selectbox(key="partner").options == ["Joint view", "LTU", "POL"]


def test_demo_mode_refuses_to_serve_the_network(app):
    old = st_config.get_option("server.address")
    st_config.set_option("server.address", "0.0.0.0")
    try:
        at = app.run()
    finally:
        st_config.set_option("server.address", old)
    assert not at.exception
    assert "0.0.0.0, not on localhost only" in at.error[0].value
    assert "python -m geo users add" in at.error[0].value
    assert "VIEWER" not in page_text(at)


def test_users_file_requires_sign_in(app, tmp_path):
    access.add_user(
        tmp_path / "users.json", "alice", partner="LTU", roles="commander", password=PASSWORD
    )
    at = app.run()
    assert not at.exception
    assert not at.warning  # no demo banner
    assert at.title[0].value == "Sign in to Limes"
    assert "VIEWER" not in page_text(at)
    assert len(at.selectbox) == 0

    at = sign_in(at, "alice", "wrong password!")
    assert [e.value for e in at.error] == ["Wrong user name or password."]
    assert "VIEWER" not in page_text(at)

    at = sign_in(at, "alice", PASSWORD)
    assert not at.exception
    assert "VIEWER name=alice partner=LTU demo=False" in page_text(at)
    # The joint view (of what the user may see) and their own partner; no other partner.
    assert at.selectbox(key="partner").options == ["Joint view", "LTU"]
    assert "Signed in as alice" in at.sidebar.text[0].value
    assert PASSWORD not in repr(at.session_state)

    # Every rerun looks the user up again: a partner change applies at once...
    path = tmp_path / "users.json"
    data = json.loads(path.read_text())
    data["users"]["alice"]["partner"] = "POL"
    path.write_text(json.dumps(data))
    at.run()
    assert "VIEWER name=alice partner=POL demo=False" in page_text(at)
    assert at.selectbox(key="partner").options == ["Joint view", "POL"]
    # ...so does a role change with `users add` (the password hash is kept)...
    access.add_user(path, "alice", partner="POL", roles="analyst", password=PASSWORD)
    access.add_user(path, "alice", partner="POL", roles="commander", password=None)
    at.run()
    assert "VIEWER name=alice partner=POL demo=False" in page_text(at)
    # ...and a new password signs other sessions out.
    access.add_user(path, "alice", partner="POL", roles="commander", password=PASSWORD + "!")
    at.run()
    assert at.title[0].value == "Sign in to Limes"
    assert "password changed" in at.info[0].value
    assert "VIEWER" not in page_text(at)

    at = sign_in(at, "alice", PASSWORD + "!")
    assert "VIEWER name=alice partner=POL demo=False" in page_text(at)


def test_removed_user_is_signed_out_at_next_rerun(app, tmp_path):
    path = tmp_path / "users.json"
    access.add_user(path, "alice", partner="LTU", roles="commander", password=PASSWORD)
    access.add_user(path, "bob", partner="POL", roles="analyst", password=PASSWORD)
    at = sign_in(app.run(), "alice", PASSWORD)
    assert "VIEWER name=alice" in page_text(at)
    access.remove_user(path, "alice")
    at.run()
    assert "VIEWER" not in page_text(at)
    assert at.title[0].value == "Sign in to Limes"
    assert "account was removed" in at.info[0].value


def test_sign_out_button(app, tmp_path):
    access.add_user(
        tmp_path / "users.json", "alice", partner="LTU", roles="commander", password=PASSWORD
    )
    at = sign_in(app.run(), "alice", PASSWORD)
    at.sidebar.button(key="signout").click().run()
    assert "VIEWER" not in page_text(at)
    assert at.info[0].value == "You signed out."


def test_failed_sign_ins_are_throttled(app, tmp_path):
    access.add_user(
        tmp_path / "users.json", "alice", partner="LTU", roles="commander", password=PASSWORD
    )
    at = app.run()
    for _ in range(settings.SIGNIN_MAX_FAILURES):
        at = sign_in(at, "alice", "not the password")
    at = sign_in(at, "alice", PASSWORD)  # even the right password must wait now
    assert "Too many failed sign-ins" in at.error[0].value
    assert "VIEWER" not in page_text(at)


def test_malformed_users_file_closes_the_app(app, tmp_path):
    (tmp_path / "users.json").write_text("{")
    at = app.run()
    assert not at.exception
    assert "Sign-in is unavailable" in at.error[0].value
    assert "VIEWER" not in page_text(at)
    assert not at.warning


def test_oidc_sign_in(app, tmp_path):
    path = tmp_path / "users.json"
    access.add_user(path, "bob@example.org", partner="POL", roles="briefer", oidc=True)
    app.secrets["auth"] = {
        "redirect_uri": "http://localhost:8501/oauth2callback",
        "cookie_secret": "x" * 32,
        "client_id": "limes",
        "client_secret": "s",
        "server_metadata_url": "https://idp.example.org/.well-known/openid-configuration",
    }
    app.user = {"is_logged_in": False}
    at = app.run()
    assert [b.label for b in at.button] == ["Sign in with single sign-on"]
    assert len(at.text_input) == 0  # only OIDC users: no password form

    app.user = {"is_logged_in": True, "email": "Bob@example.org", "email_verified": True}
    at = app.run()
    assert not at.exception
    assert "VIEWER name=bob@example.org partner=POL demo=False" in page_text(at)
    at.run()  # a rerun of the same session is not a new sign-in

    app.user = {"is_logged_in": True, "email": "eve@example.org"}
    at = app.run()
    assert "not a verified address of a Limes OIDC user" in at.error[0].value
    assert "VIEWER" not in page_text(at)

    # the audit log has each arrival once: bob signed in, eve refused (newest first)
    log = geo_store.audit_log(settings.store_path())
    assert log["action"].tolist() == ["signin.failed", "signin"]
    assert log["user"].tolist() == ["eve@example.org", "bob@example.org"]
    details = [json.loads(d) for d in log["detail"]]
    assert [d["method"] for d in details] == ["oidc", "oidc"]
    assert details[0]["reason"] == "not a Limes OIDC user"
    assert log["partner"].tolist()[1] == "POL"


@pytest.mark.parametrize(
    ("entries", "ok"), [((PASSWORD, PASSWORD), True), ((PASSWORD, PASSWORD + "x"), False)]
)
def test_run_cli_asks_the_password_twice(tmp_path, monkeypatch, entries, ok):
    answers = iter(entries)
    monkeypatch.setattr(users_cli.getpass, "getpass", lambda prompt: next(answers))
    args = Namespace(
        users_command="add",
        name="alice",
        partner="LTU",
        roles="commander",
        password_stdin=False,
        users_file=tmp_path / "users.json",
    )
    if ok:
        assert users_cli.run(args)["user"]["sign_in"] == "password"
        assert access.verify(args.users_file, "alice", PASSWORD) is not None
    else:
        with pytest.raises(ValidationError, match="the two entries differ"):
            users_cli.run(args)
        assert not args.users_file.exists()
