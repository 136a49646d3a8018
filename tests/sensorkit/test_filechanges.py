"""The change detector `[[watch]]` and the Byteport client's poller share: files under tmp_path, real mtimes."""
from __future__ import annotations

import hashlib
import os
import time

import pytest

from sensorkit.filechanges import RACY_NS, ChangeDetector, FileState

HOUR_NS = 3600 * 10**9


def write(path, content: bytes, *, age_ns: int = HOUR_NS):
    """A file, with an mtime `age_ns` in the past (an hour: settled; 0: just written)."""
    path.write_bytes(content)
    mtime = time.time_ns() - age_ns
    os.utime(path, ns=(mtime, mtime))
    return path


def record(scan, known=None):
    """`known` after the scan's changes were stored (what a caller records)."""
    known = {name: state for name, state in (known or {}).items() if name in scan.seen}
    known.update(scan.unchanged)
    known.update({change.name: change.state for change in scan.changes})
    return known


def names(scan):
    return [change.name for change in scan.changes]


def test_scan_reports_added_changed_removed_and_renamed_files_but_not_unchanged_ones(tmp_path):
    write(tmp_path / "temperature", b"21.5")
    write(tmp_path / "status", b"ok")
    detector = ChangeDetector(tmp_path)
    first = detector.scan({})
    assert sorted(names(first)) == ["status", "temperature"]
    known = record(first)
    assert known["status"] == FileState(2, (tmp_path / "status").stat().st_mtime_ns,
                                        hashlib.sha256(b"ok").hexdigest(), True)

    assert names(detector.scan(known)) == []  # nothing changed
    write(tmp_path / "temperature", b"22.0")  # changed, same size
    write(tmp_path / "humidity", b"48")  # added
    (tmp_path / "status").rename(tmp_path / "state")  # renamed: a new name, and one gone
    scan = detector.scan(known)
    assert sorted(names(scan)) == ["humidity", "state", "temperature"]
    assert scan.removed(known) == ["status"]
    assert [c.content for c in scan.changes if c.name == "temperature"] == [b"22.0"]


def test_scan_same_content_written_again_is_unchanged_but_its_new_state_is_given(tmp_path):
    write(tmp_path / "door", b"open")
    detector = ChangeDetector(tmp_path)
    known = record(detector.scan({}))
    write(tmp_path / "door", b"open", age_ns=HOUR_NS // 2)
    scan = detector.scan(known)
    assert names(scan) == [] and scan.unchanged["door"].mtime_ns == (tmp_path / "door").stat().st_mtime_ns


def test_scan_trusts_an_equal_stat_of_a_settled_file_without_reading_it(tmp_path):
    path = write(tmp_path / "level", b"aaaa")
    detector = ChangeDetector(tmp_path)
    known = record(detector.scan({}))
    before = path.stat().st_mtime_ns
    path.write_bytes(b"bbbb")  # another content, the same size and (set back) the same mtime
    os.utime(path, ns=(before, before))
    assert names(detector.scan(known)) == []  # not read: the stat says unchanged


def test_scan_reads_a_racy_file_again_even_when_its_stat_is_equal(tmp_path):
    """A file modified just before it was read may change again within the mtime's granularity."""
    path = write(tmp_path / "level", b"aaaa", age_ns=0)
    detector = ChangeDetector(tmp_path)
    known = record(detector.scan({}))
    assert not known["level"].settled
    before = path.stat().st_mtime_ns
    path.write_bytes(b"bbbb")
    os.utime(path, ns=(before, before))
    assert [c.content for c in detector.scan(known).changes] == [b"bbbb"]


def test_scan_a_racy_state_settles_once_the_file_is_old_enough(tmp_path):
    path = write(tmp_path / "level", b"aaaa", age_ns=0)
    now = [time.time_ns()]
    detector = ChangeDetector(tmp_path, wall_ns=lambda: now[0])
    known = record(detector.scan({}))
    assert not known["level"].settled
    now[0] = path.stat().st_mtime_ns + RACY_NS + 1
    scan = detector.scan(known)
    assert names(scan) == [] and scan.unchanged["level"].settled


def test_scan_pattern_is_a_glob_on_the_name_and_star_leaves_hidden_files_alone(tmp_path):
    for name in ("snap1", "snap2", "notes", ".snap3", ".notes.swp"):
        write(tmp_path / name, b"x")
    (tmp_path / "snapdir").mkdir()
    assert sorted(names(ChangeDetector(tmp_path, pattern="snap*").scan({}))) == ["snap1", "snap2"]
    assert sorted(names(ChangeDetector(tmp_path).scan({}))) == ["notes", "snap1", "snap2"]
    assert sorted(names(ChangeDetector(tmp_path, pattern=".*").scan({}))) == [".notes.swp", ".snap3"]
    assert len(names(ChangeDetector(tmp_path, pattern=None).scan({}))) == 5
    assert names(ChangeDetector(tmp_path, pattern="SNAP*").scan({})) == []  # case-sensitive, as the file system


def test_scan_lists_oldest_first(tmp_path):
    write(tmp_path / "b", b"1", age_ns=3 * HOUR_NS)
    write(tmp_path / "a", b"2", age_ns=1 * HOUR_NS)
    write(tmp_path / "c", b"3", age_ns=2 * HOUR_NS)
    assert names(ChangeDetector(tmp_path).scan({})) == ["b", "c", "a"]


def test_scan_names_refused_and_files_too_large_are_problems_not_changes(tmp_path):
    write(tmp_path / "ok", b"1")
    write(tmp_path / "x", b"1")
    big = write(tmp_path / "big", b"z" * 101)
    detector = ChangeDetector(tmp_path, name_problem=lambda n: "is too short" if len(n) < 2 else None,
                              max_bytes=100)
    scan = detector.scan({})
    assert names(scan) == ["ok"]
    problems = {p.name: p for p in scan.problems}
    assert problems["x"].why == "is too short" and problems["x"].key == ()
    assert "101 bytes, more than the 100" in problems["big"].why
    assert problems["big"].key == (101, big.stat().st_mtime_ns)  # once per change of the file
    assert scan.seen == {"ok", "x", "big"}


def test_scan_a_file_that_cannot_be_read_is_a_problem_and_the_rest_go_on(tmp_path):
    write(tmp_path / "fine", b"1")
    # A regular file not even root can read (this suite runs as root in CI): the kernel answers EIO.
    (tmp_path / "broken").symlink_to("/proc/self/mem")
    scan = ChangeDetector(tmp_path).scan({})
    assert names(scan) == ["fine"]
    [problem] = scan.problems
    assert problem.name == "broken" and problem.why.startswith("it cannot be read: ")


def test_scan_of_a_directory_that_is_gone_raises_oserror(tmp_path):
    with pytest.raises(OSError):
        ChangeDetector(tmp_path / "gone").scan({})


def test_file_state_json_round_trip_and_refusals():
    state = FileState(4, 1_700_000_000_123_456_789, "ab" * 32, False)
    assert FileState.from_json(state.to_json()) == state
    for bad in ([4, 1, "ab" * 32], [4.0, 1, "ab" * 32, True], [4, 1, "short", True], {"size": 4}):
        with pytest.raises(ValueError):
            FileState.from_json(bad)
