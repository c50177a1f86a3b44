"""Grades out: Moodle's and Canvas's import CSVs parsed back, and the Canvas API export
against a loopback server that speaks the few Canvas REST endpoints canvasapi calls
(recorded from Canvas's API docs), including a failure half-way and the re-run."""

from __future__ import annotations

import csv
import json
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from autograder import batch, cli
from autograder.exports import canvas, lms_csv
from autograder.grader import GradingError
from autograder.reports import GradeReport
from mnist_course.config import parse_config
from mnist_course.results import CheckResult

TOKEN = "test-token"
COURSE, ASSIGNMENT = 11, 77
DUE = datetime(2026, 3, 1, tzinfo=UTC)
#: The Canvas course's students: the kit's names are their SIS ids; logins differ.
STUDENTS = [
    {"id": 101, "name": "Alice A", "sis_user_id": "alice", "login_id": "alice@uni"},
    {"id": 102, "name": "Bob B", "sis_user_id": "bob", "login_id": "bob@uni"},
    {"id": 103, "name": "Carol C", "sis_user_id": "carol", "login_id": "carol@uni"},
]


@pytest.fixture
def graded(tmp_path: Path) -> Path:
    """grade-all's output for four students: alice on time (4/10), bob one day late
    (4 - 1 = 3), carol unknown to Canvas under her kit name 'zed', dave not graded."""
    config = parse_config(
        {
            "assignments": {"mnist_digits": {"due": DUE.isoformat()}},
            "late_work": {"policy": {"per": "day", "penalty": 0.1}},
        }
    )
    out = tmp_path / "graded"
    out.mkdir()
    results = []
    for student, late in (("alice", 0), ("bob", 1), ("zed", 0), ("dave", 0)):
        folder = tmp_path / "submitted" / student / "mnist_digits"
        folder.mkdir(parents=True)
        (folder / "mnist_digits.ipynb").write_text("{}")
        moment = DUE + timedelta(hours=20 * late)
        (folder / "timestamp.txt").write_text(moment.strftime("%Y-%m-%d %H:%M:%S UTC"))
        submission = batch.Submission(student, "mnist_digits", folder / "mnist_digits.ipynb")
        checks = (CheckResult("data.load", "Load", True, 4.0, 10.0, "loaded"),)
        report = GradeReport(str(submission.path), checks, assignment="mnist_digits")
        graded_ = student != "dave"
        results.append(
            batch.Result(
                submission,
                "graded" if graded_ else "error",
                report if graded_ else None,
                "" if graded_ else "the grader ran out of memory",
                "0" * 64,
                "0" * 64,
            )
        )
        if graded_:
            (out / f"{student}--mnist_digits.html").write_text(f"<p>{student}'s feedback</p>")
    batch.write_class_files(out, results, config)
    return out


def test_moodle_csv_has_the_identifier_the_grade_and_the_feedback_columns(graded: Path) -> None:
    path, grades = lms_csv.moodle_csv(graded, item="MNIST digits", identifier="idnumber")
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0])[:3] == ["ID number", "MNIST digits (Real)", "MNIST digits (Feedback)"]
    by_student = {row["ID number"]: row for row in rows}
    assert set(by_student) == {"alice", "bob", "zed"}  # dave was not graded: not a zero
    bob = by_student["bob"]
    assert (bob["MNIST digits (Real)"], bob["Raw score"], bob["Late penalty"]) == ("3", "4", "1")
    assert bob["Late (seconds)"] == str(20 * 3600)
    assert "20 h late, -1 = 3" in bob["MNIST digits (Feedback)"]
    assert by_student["alice"]["MNIST digits (Real)"] == "4"
    assert grades.not_graded == (("dave", "the grader ran out of memory"),)


def test_canvas_csv_has_canvas_columns_a_points_row_and_final_scores(graded: Path) -> None:
    path, _ = lms_csv.canvas_csv(
        graded, title="MNIST digits", canvas_assignment=ASSIGNMENT, match="login"
    )
    with path.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == [
        "Student", "ID", "SIS User ID", "SIS Login ID", "Section", f"MNIST digits ({ASSIGNMENT})"
    ]  # fmt: skip
    assert rows[1][0].strip() == "Points Possible" and rows[1][5] == "10"
    bob = next(row for row in rows if row[0] == "bob")
    assert (bob[2], bob[3], bob[5]) == ("", "bob", "3")


class CanvasState:
    """What the fake Canvas holds and was sent; ``fail_on_put`` makes the Nth PUT a 500."""

    def __init__(self) -> None:
        self.grades: dict[int, str] = {}
        self.comments: dict[int, list[str]] = {}
        self.files: dict[int, list[int]] = {}
        self.uploads: dict[int, bytes] = {}
        self.puts = 0
        self.fail_on_put: int | None = None
        self.requests: list[str] = []


def _handler(state: CanvasState, port: list[int]):
    """A request handler for the endpoints canvasapi calls for the export (paths and
    fields as in Canvas's REST API documentation)."""
    base = "/api/v1"
    submission = re.compile(rf"{base}/courses/{COURSE}/assignments/{ASSIGNMENT}/submissions/(\d+)")

    class Handler(BaseHTTPRequestHandler):
        timeout = 10

        def log_message(self, *args) -> None:  # keep pytest's output clean
            pass

        def _send(self, status: int, body: object, headers: dict[str, str] | None = None):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def _authorised(self) -> bool:
            if self.headers.get("Authorization") == f"Bearer {TOKEN}":
                return True
            self._send(401, {"errors": [{"message": "Invalid access token."}]},
                       {"WWW-Authenticate": 'Bearer realm="canvas-lms"'})  # fmt: skip
            return False

        def _body(self) -> bytes:
            return self.rfile.read(int(self.headers.get("Content-Length", 0)))

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            state.requests.append(f"GET {url.path}")
            if not self._authorised():
                return
            if url.path == f"{base}/courses/{COURSE}":
                return self._send(200, {"id": COURSE, "name": "MNIST"})
            if url.path == f"{base}/courses/{COURSE}/assignments/{ASSIGNMENT}":
                return self._send(
                    200, {"id": ASSIGNMENT, "course_id": COURSE, "points_possible": 20}
                )
            if url.path == f"{base}/courses/{COURSE}/search_users":
                query = parse_qs(url.query)
                assert query.get("enrollment_type[]") == ["student"]
                page = int(query.get("page", ["1"])[0])
                if page == 1:  # two pages, as Canvas paginates, linked by a Link header
                    query = "enrollment_type%5B%5D=student&page=2"
                    link = f'<http://127.0.0.1:{port[0]}{url.path}?{query}>; rel="next"'
                    return self._send(200, STUDENTS[:2], {"Link": link})
                return self._send(200, STUDENTS[2:])
            if match := submission.fullmatch(url.path):
                user = int(match[1])
                return self._send(
                    200, {"id": user + 1000, "user_id": user, "assignment_id": ASSIGNMENT}
                )
            self._send(404, {"errors": [{"message": "not found"}]})

        def do_PUT(self) -> None:
            url = urlsplit(self.path)
            state.requests.append(f"PUT {url.path}")
            if not self._authorised():
                return
            match = submission.fullmatch(url.path)
            if not match:
                return self._send(404, {"errors": [{"message": "not found"}]})
            state.puts += 1
            form = parse_qs(self._body().decode())
            if state.puts == state.fail_on_put:
                return self._send(500, {"errors": [{"message": "internal error"}]})
            user = int(match[1])
            if "submission[posted_grade]" in form:
                state.grades[user] = form["submission[posted_grade]"][0]
            state.comments.setdefault(user, []).extend(form.get("comment[text_comment]", []))
            state.files.setdefault(user, []).extend(
                int(i) for i in form.get("comment[file_ids][]", [])
            )
            self._send(200, {"id": user + 1000, "user_id": user, "grade": state.grades.get(user)})

        def do_POST(self) -> None:
            url = urlsplit(self.path)
            state.requests.append(f"POST {url.path}")
            if url.path.startswith("/upload/"):  # the upload URL: no token, multipart
                user = int(url.path.rsplit("/", 1)[1])
                state.uploads[user] = self._body()
                file_id = 5000 + user
                return self._send(201, {"id": file_id, "url": f"http://files/{file_id}"})
            if not self._authorised():
                return
            match = re.fullmatch(rf"{submission.pattern}/comments/files", url.path)
            if not match:
                return self._send(404, {"errors": [{"message": "not found"}]})
            form = parse_qs(self._body().decode())
            assert form["name"][0].endswith(".html") and int(form["size"][0]) > 0
            self._send(
                200,
                {
                    "upload_url": f"http://127.0.0.1:{port[0]}/upload/{match[1]}",
                    "upload_params": {"filename": form["name"][0]},
                },
            )

    return Handler


@pytest.fixture
def fake_canvas(monkeypatch) -> Iterator[tuple[str, CanvasState]]:
    """The fake Canvas on 127.0.0.1 at a free port; it stops after the test, or by
    itself after 120 s whatever happens."""
    state, port = CanvasState(), [0]
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state, port))
    port[0] = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    deadline = threading.Timer(120, server.shutdown)
    deadline.daemon = True
    deadline.start()
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv(canvas.TOKEN_ENV, TOKEN)
    monkeypatch.setenv(canvas.URL_ENV, f"http://127.0.0.1:{port[0]}")
    try:
        yield f"http://127.0.0.1:{port[0]}", state
    finally:
        deadline.cancel()
        server.shutdown()
        server.server_close()


def _export(graded: Path, **options):
    return canvas.export(graded, course=COURSE, assignment=ASSIGNMENT, **options)


def test_a_dry_run_shows_what_it_would_post_and_posts_nothing(graded, fake_canvas, capsys):
    _, state = fake_canvas
    summary = _export(graded)
    assert state.puts == 0 and not any(r.startswith("POST") for r in state.requests)
    assert summary.would_post == [
        ("alice", "grade"), ("alice", "feedback"), ("bob", "grade"), ("bob", "feedback")
    ]  # fmt: skip
    assert summary.unknown_students == ["zed"] and summary.not_graded[0][0] == "dave"
    out = capsys.readouterr().out
    assert re.search(r"bob\s+102\s+4\s+1\s+3\s+6/20\s+grade, feedback", out)  # 3/10 as 6/20
    assert "--post" in out and "zed" in out
    assert not (graded / canvas.RECORD_FILE).exists()


def test_a_failure_half_way_is_recorded_and_a_rerun_posts_only_the_rest(graded, fake_canvas):
    _, state = fake_canvas
    state.fail_on_put = 3  # alice's grade, alice's file comment, then bob's grade fails
    with pytest.raises(GradingError) as error:
        _export(graded, post=True)
    assert "posted 2 of 4 steps" in str(error.value) and "run the same command again" in str(
        error.value
    )
    assert state.grades == {101: "8"} and state.files == {101: [5101]}  # 4/10 as 8/20
    assert b"alice's feedback" in state.uploads[101]
    record = [json.loads(line) for line in (graded / canvas.RECORD_FILE).read_text().splitlines()]
    assert [(line["student"], line["step"]) for line in record] == [
        ("alice", "grade"), ("alice", "feedback")
    ]  # fmt: skip

    state.fail_on_put = None
    again = _export(graded, post=True)
    assert again.posted == [("bob", "grade"), ("bob", "feedback")]
    assert state.grades == {101: "8", 102: "6"}
    assert len(state.comments[101]) == 1  # alice's comment was not posted twice
    assert "late penalty 1, final 3" in state.comments[102][0]
    assert state.files[102] == [5102]

    puts = state.puts
    third = _export(graded, post=True)
    assert third.posted == [] and state.puts == puts  # nothing left: nothing posted


def test_login_matching_and_a_bad_token_say_what_to_do(graded, fake_canvas, monkeypatch):
    summary = _export(graded, match="login", attach=False)
    assert summary.unknown_students == ["alice", "bob", "zed"]  # their logins are x@uni
    monkeypatch.setenv(canvas.TOKEN_ENV, "wrong")
    with pytest.raises(GradingError, match="refused the token.*New access token"):
        _export(graded)
    monkeypatch.delenv(canvas.TOKEN_ENV)
    with pytest.raises(GradingError, match="set \\$CANVAS_API_TOKEN"):
        _export(graded)


def test_the_cli_exports_and_a_missing_class_json_is_a_clear_error(graded, tmp_path, capsys):
    assert cli.main(["export", "moodle-csv", str(graded)]) == 0
    assert (graded / "moodle-mnist_digits.csv").is_file()
    assert "3 final scores of mnist_digits" in capsys.readouterr().out
    assert cli.main(["export", "canvas-csv", str(tmp_path)]) == cli.EXIT_ERROR
    assert "run grade-all" in capsys.readouterr().err
