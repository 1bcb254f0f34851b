"""The pydantic models refuse every schema case of the invalid corpus, as the CRDs do.

The models are the single source of truth for the CRDs, so the operator (which
validates with them) and the API server (which validates with the generated
schema) must agree. The API server's side, with the field each refusal names,
is tests/cluster/test_invalid_corpus.py.
"""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from shakedown.api.imagerefresh import ContainerImageRefreshSpec
from shakedown.api.infrarollout import InfraRolloutSpec
from shakedown.api.metrictemplate import MetricTemplateSpec
from tests.invalid_corpus import CASES, SCHEMA_CASES, Case

MODELS: dict[str, type[BaseModel]] = {
    "cir": ContainerImageRefreshSpec,
    "iro": InfraRolloutSpec,
    "mtpl": MetricTemplateSpec,
}


def test_the_corpus_is_big_enough_and_each_case_is_distinct() -> None:
    assert len(CASES) >= 120
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("kind", ["cir", "iro", "mtpl"])
def test_the_valid_bases_are_valid(kind: str) -> None:
    from tests.invalid_corpus import BASES

    MODELS[kind].model_validate(BASES[kind]("corpus")["spec"])


SPEC_CASES = [case for case in SCHEMA_CASES if case.path.startswith("spec")]


@pytest.mark.parametrize("case", SPEC_CASES, ids=[case.id for case in SPEC_CASES])
def test_the_models_refuse_what_the_schema_refuses(case: Case) -> None:
    with pytest.raises(ValidationError):
        MODELS[case.kind].model_validate(case.manifest("corpus")["spec"])
