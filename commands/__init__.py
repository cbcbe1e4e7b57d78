"""The product's commands: what users and CI run. The model gate (`gate`), the PR
preview summary (`preview_summary`, drawn from `stack_state` and `summary_sections`; its hidden
marker in `pr_comment`) and the engine-event reader it reads the preview with (`engine_events`),
the policy report (`policy_report`), the price table of the cost estimate (`prices`), the canary
analysis that writes its verdict into a model.yaml (`analyze`), and around every engine run the
runner that lets no plugin process outlive it (`engine_run`, `engine_processes`) and the recovery
from an interrupted one (`recover`).

They may import `components` (the program's library, chiefly its shared facts) but never the build
and test infrastructure (`toolchain/`), `tests/` or `bench/`; tests/unit/test_architecture.py
enforces it.
"""
