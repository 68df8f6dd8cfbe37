"""The provider side: what a finetuning provider runs on a customer's job it cannot trust.

- `safemix.provider.screen`: the data gate, findings per row and per job (`safemix screen`,
  `safemix.screen`); `english` (how much text reads as English) and `harm` (the optional
  MiniLM harmful-request tier) are its parts.
- `safemix.provider.attacks`: red-team variants of any job, for testing the gate and the
  mitigation (exposed as `safemix.attacks`).
- `safemix.provider.wrap`: `safemix wrap JOB.json --policy POLICY.yaml` / `safemix.wrap`: the job
  body validated (`jobspec`, OpenAI-style errors), the data gate, the policy's mitigation through
  the pipeline, the model gate, a verdict with reasons; `policy` (the Policy, example:
  policy.example.yaml) and `audit` (the hash-chained JSONL audit trail) are its parts.
"""
