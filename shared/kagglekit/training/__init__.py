"""Training: the cross-validation loop and the runs that record it.

- ``prepare``: a project's data ready for the loop (``Prepared``), the model factory.
- ``cv``: the loop (``cross_validate``): a fresh model per fold, OOF and test predictions,
  finished folds kept on disk (``FoldStore``).
- ``run``: ``train`` and the run lifecycle it shares with ``ensembling.ensemble``: open a
  run folder or resume one, FAILED on any exception, COMPLETE with predictions, encoded
  target, scores and submission.
- ``smoke``: ``kk train --smoke``, one short fold, nothing recorded.
- ``pseudo``: pseudo-labels from a teacher run. ``kk train --nproc N`` (DDP through torchrun)
  is ``kagglekit.torch.distributed``: the trainer and the CLI use it too, so it sits below.

Everything the flat ``kagglekit.training`` module had is importable from here.
"""

from kagglekit.submission import rebuild_run_submission
from kagglekit.training.cv import CVResult, FoldResult, FoldStore, ModelFitError, cross_validate
from kagglekit.training.prepare import (
    Prepared,
    check_submission_format,
    encode_target,
    model_backend,
    model_factory,
    n_outputs,
    prepare,
)
from kagglekit.training.run import (
    RunResult,
    find_resumable,
    last_epoch_cv,
    resolve_run,
    resume_key,
    train,
    write_run_submission,
)
from kagglekit.training.smoke import SmokeResult, smoke_test

__all__ = [
    "CVResult",
    "FoldResult",
    "FoldStore",
    "ModelFitError",
    "Prepared",
    "RunResult",
    "SmokeResult",
    "check_submission_format",
    "cross_validate",
    "encode_target",
    "find_resumable",
    "last_epoch_cv",
    "model_backend",
    "model_factory",
    "n_outputs",
    "prepare",
    "rebuild_run_submission",
    "resolve_run",
    "resume_key",
    "smoke_test",
    "train",
    "write_run_submission",
]
