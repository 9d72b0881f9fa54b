"""The smoke test of a staging endpoint: every payload sent once, answers judged on shape,
errors and latency, on a fake endpoint whose every answer takes a set time on a fake clock."""

from __future__ import annotations

import json
from collections.abc import Sequence

import pytest
from modelfresh.core.schema import SmokeTest
from modelfresh.promote.smoke import EndpointError, SmokeReport, smoke_test

ENDPOINT = "taxi-fare-staging"
ROW_1 = "1,2.4,8,1,11,40.75,-73.98,40.76,-73.97"
ROW_2 = "2,11.9,18,4,11,40.64,-73.77,40.75,-73.98"

type Answer = bytes | EndpointError


class Clock:
    """A clock that only moves when the endpoint takes time to answer."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FakeEndpoint:
    """smoke.Invoker: gives (or raises) its answers in turn, each taking its milliseconds."""

    def __init__(self, clock: Clock, answers: Sequence[Answer], ms: Sequence[float] = ()) -> None:
        self._clock = clock
        self._answers = list(answers)
        self._ms = list(ms) or [20.0] * len(answers)
        self.requests: list[tuple[str, bytes, str]] = []

    def invoke(self, endpoint: str, body: bytes, content_type: str) -> bytes:
        index = len(self.requests)
        self.requests.append((endpoint, body, content_type))
        self._clock.now += self._ms[index] / 1000
        answer = self._answers[index]
        if isinstance(answer, EndpointError):
            raise answer
        return answer


def run(
    test: SmokeTest, answers: Sequence[Answer], ms: Sequence[float] = ()
) -> tuple[SmokeReport, FakeEndpoint]:
    clock = Clock()
    endpoint = FakeEndpoint(clock, answers, ms)
    return smoke_test(endpoint, ENDPOINT, test, clock=clock), endpoint


# -- passing -----------------------------------------------------------------------------------


def test_payloads_answered_in_shape_and_in_time_pass() -> None:
    # Given two CSV rows, answered with one number each in 20 and 40 ms
    test = SmokeTest(payloads=(ROW_1, ROW_2))

    report, endpoint = run(test, [b"12.5\n", b"31.0"], ms=[20, 40])

    # Then each payload was sent once, as CSV, to the staging endpoint, and the test passed
    assert endpoint.requests == [
        (ENDPOINT, ROW_1.encode(), "text/csv"),
        (ENDPOINT, ROW_2.encode(), "text/csv"),
    ]
    assert report == SmokeReport(
        passed=True,
        invocations=2,
        errors=0,
        p50_ms=30.0,
        max_ms=40.0,
        problems=(),
        summary="passed: 2 request(s), 0 error(s), median 30 ms, slowest 40 ms",
    )


@pytest.mark.parametrize(
    ("payload", "answer", "content_type"),
    [
        pytest.param("1,2\n3,4\n", b"0.1,0.9\n0.7,0.3\n", "text/csv", id="csv-rows-several-values"),
        pytest.param(ROW_1, b" -3.5e2 ", "text/csv", id="csv-exponent"),
        pytest.param(
            '{"rows": [[1, 2]]}', b'{"predictions": [12.5]}', "application/json", id="json"
        ),
    ],
)
def test_answers_that_fit_their_request_pass(
    payload: str, answer: bytes, content_type: str
) -> None:
    report, endpoint = run(SmokeTest(payloads=(payload,), content_type=content_type), [answer])

    assert (report.passed, report.problems) == (True, ())
    assert endpoint.requests == [(ENDPOINT, payload.encode(), content_type)]


# -- errors ------------------------------------------------------------------------------------


def test_endpoint_errors_within_max_errors_pass_but_are_listed() -> None:
    test = SmokeTest(payloads=(ROW_1, ROW_2), max_errors=1)

    report, _ = run(test, [b"12.5", EndpointError("ModelError: received server error (500)")])

    assert report.passed is True
    assert report.errors == 1
    assert report.problems == ("request 2: ModelError: received server error (500)",)
    # A passed report's summary does not carry the tolerated problem
    assert report.summary == "passed: 2 request(s), 1 error(s), median 20 ms, slowest 20 ms"


def test_errors_over_max_errors_fail_with_the_first_problem_in_the_summary() -> None:
    test = SmokeTest(payloads=(ROW_1, ROW_2, ROW_1), max_errors=1)
    answers: list[Answer] = [
        b"12.5",
        EndpointError("ThrottlingException: Rate exceeded"),
        EndpointError("ModelError: out of memory"),
    ]

    report, endpoint = run(test, answers)

    assert len(endpoint.requests) == 3  # an error does not stop the test
    assert report.passed is False
    assert report.errors == 2
    assert report.problems == (
        "request 2: ThrottlingException: Rate exceeded",
        "request 3: ModelError: out of memory",
        "2 error(s), more than the 1 allowed",
    )
    assert report.summary == (
        "FAILED: 3 request(s), 2 error(s), median 20 ms, slowest 20 ms; "
        "request 2: ThrottlingException: Rate exceeded"
    )


def test_a_long_error_message_is_cut_to_200_characters() -> None:
    report, _ = run(SmokeTest(payloads=(ROW_1,)), [EndpointError("x" * 500)])

    assert report.problems[0] == "request 1: " + "x" * 200


# -- shape -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("payload", "answer", "content_type", "problem"),
    [
        pytest.param(ROW_1, b"", "text/csv", "answered with an empty body", id="empty"),
        pytest.param(ROW_1, b" \r\n ", "text/csv", "answered with an empty body", id="blank"),
        pytest.param(
            ROW_1,
            b"fraud",
            "text/csv",
            "answer line 1 is not numbers: 'fraud'",
            id="csv-word",
        ),
        pytest.param(ROW_1, b"nan", "text/csv", "answer line 1 is not numbers: 'nan'", id="nan"),
        pytest.param(
            ROW_1,
            b"12.5,inf",
            "text/csv",
            "answer line 1 is not numbers: '12.5,inf'",
            id="infinity",
        ),
        pytest.param(
            f"{ROW_1}\n{ROW_2}\n",
            b"12.5",
            "text/csv",
            "answered 1 line(s) for 2 row(s)",
            id="too-few-lines",
        ),
        pytest.param(
            ROW_1, b"12.5\n31.0", "text/csv", "answered 2 line(s) for 1 row(s)", id="too-many-lines"
        ),
        pytest.param(
            '{"rows": [[1, 2]]}',
            b"<html>502 Bad Gateway</html>",
            "application/json",
            "answered something that is not JSON: '<html>502 Bad Gateway</html>'",
            id="json-html",
        ),
        pytest.param(
            '{"rows": [[1, 2]]}',
            b"",
            "application/json",
            "answered with an empty body",
            id="json-empty",
        ),
    ],
)
def test_wrong_shaped_answer_fails_and_says_what_was_wrong(
    payload: str, answer: bytes, content_type: str, problem: str
) -> None:
    test = SmokeTest(payloads=(payload,), content_type=content_type)

    report, _ = run(test, [answer])

    assert report.passed is False
    assert report.errors == 0  # answered, just not in shape
    assert report.problems == (f"request 1: {problem}",)
    assert report.summary == (
        f"FAILED: 1 request(s), 0 error(s), median 20 ms, slowest 20 ms; request 1: {problem}"
    )


def test_a_misshapen_answer_fails_even_when_errors_are_tolerated() -> None:
    test = SmokeTest(payloads=(ROW_1, ROW_2), max_errors=5)

    report, _ = run(test, [b"12.5", b"fraud"])

    assert (report.passed, report.errors) == (False, 0)
    assert report.problems == ("request 2: answer line 1 is not numbers: 'fraud'",)


def test_a_long_misshapen_answer_is_quoted_up_to_80_characters() -> None:
    report, _ = run(SmokeTest(payloads=(ROW_1,)), [b"a" * 300])

    assert report.problems == (f"request 1: answer line 1 is not numbers: {'a' * 80!r}",)


@pytest.mark.parametrize("answer", [b"0.5\n\n0.7", b"0.5\n , \n0.7"], ids=["empty", "commas"])
def test_a_row_answered_with_nothing_fails(answer: bytes) -> None:
    # The model scored nothing for the second row, though the line count matches
    test = SmokeTest(payloads=("1,2\n3,4\n5,6",))

    report, _ = run(test, [answer])

    assert report.passed is False
    assert report.problems[0].startswith("request 1: answer line 2 is not numbers")


def test_a_csv_content_type_with_parameters_is_still_csv() -> None:
    test = SmokeTest(payloads=(ROW_1,), content_type="text/csv; charset=utf-8")

    passed, _ = run(test, [b"12.5"])
    failed, _ = run(test, [b'{"score": 12.5}'])

    assert (passed.passed, failed.passed) == (True, False)


# -- latency -----------------------------------------------------------------------------------


def test_requests_slower_than_max_latency_fail() -> None:
    test = SmokeTest(payloads=(ROW_1, ROW_2, ROW_1), max_latency_ms=500)

    report, _ = run(test, [b"1", b"2", b"3"], ms=[125, 750, 1000])

    assert report.passed is False
    assert (report.p50_ms, report.max_ms) == (750.0, 1000.0)
    assert report.problems == ("2 request(s) slower than 500 ms (slowest 1000 ms)",)
    assert report.summary == (
        "FAILED: 3 request(s), 0 error(s), median 750 ms, slowest 1000 ms; "
        "2 request(s) slower than 500 ms (slowest 1000 ms)"
    )


def test_a_request_exactly_at_max_latency_is_in_time() -> None:
    report, _ = run(SmokeTest(payloads=(ROW_1,), max_latency_ms=500), [b"1"], ms=[500])

    assert report.passed is True
    assert report.max_ms == 500.0


def test_the_time_a_failed_request_took_counts_as_latency() -> None:
    # Given one tolerated error that took 3 seconds (a timeout, say)
    test = SmokeTest(payloads=(ROW_1, ROW_2), max_errors=1, max_latency_ms=2000)

    report, _ = run(test, [EndpointError("ReadTimeoutError: timed out"), b"1"], ms=[3000, 50])

    # Then the error is tolerated but the slowness is not
    assert report.passed is False
    assert report.max_ms == 3000.0
    assert report.problems == (
        "request 1: ReadTimeoutError: timed out",
        "1 request(s) slower than 2000 ms (slowest 3000 ms)",
    )


# -- the report as data ------------------------------------------------------------------------


def test_report_to_dict_is_json_ready_with_problems_as_a_list() -> None:
    report, _ = run(SmokeTest(payloads=(ROW_1, ROW_2)), [b"1", b"fraud"], ms=[10, 30])

    data = report.to_dict()

    assert data == {
        "passed": False,
        "invocations": 2,
        "errors": 0,
        "p50_ms": 20.0,
        "max_ms": 30.0,
        "problems": ["request 2: answer line 1 is not numbers: 'fraud'"],
        "summary": (
            "FAILED: 2 request(s), 0 error(s), median 20 ms, slowest 30 ms; "
            "request 2: answer line 1 is not numbers: 'fraud'"
        ),
    }
    assert json.loads(json.dumps(data)) == data
