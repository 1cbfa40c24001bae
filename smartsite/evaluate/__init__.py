"""``smartsite evaluate``: scenarios through a real gateway, scored against their ground truth.

Use::

    score = evaluate("gust-front")            # as fast as possible
    print(format_table([score]))
    score.ok                                  # every expected alarm in its window, no false alarm

How a run goes is in :mod:`smartsite.evaluate.evaluation` (why every device is played over MQTT with data
times, the data clock); how it is scored in :mod:`smartsite.evaluate.score`.
"""

from smartsite.evaluate.evaluation import EvaluationError, RunResult, evaluation_config, run_frames
from smartsite.evaluate.scenario_plan import DEFAULT_START_TS, Plan, load_plan, plan_of, scenario_names
from smartsite.evaluate.score import Allowance, Expectation, ExpectedResult, FalseAlarm, ScenarioScore, score
from smartsite.evaluate.scorecard import format_table, report, report_json
from smartsite.evaluate.session import evaluate, evaluate_async, evaluate_many, evaluate_plan

__all__ = [
    "DEFAULT_START_TS",
    "Allowance",
    "EvaluationError",
    "Expectation",
    "ExpectedResult",
    "FalseAlarm",
    "Plan",
    "RunResult",
    "ScenarioScore",
    "evaluate",
    "evaluate_async",
    "evaluate_many",
    "evaluate_plan",
    "evaluation_config",
    "format_table",
    "load_plan",
    "plan_of",
    "report",
    "report_json",
    "run_frames",
    "scenario_names",
    "score",
]
