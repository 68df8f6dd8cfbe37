"""The fast wrap policy the worker and end-to-end service tests share: the tiny testbed, one
epoch, a handful of probes, a model gate that always passes (the tests check the service's
mechanics, not the mitigation)."""

POLICY = """
name: service-test
gate:
  min_refusal: {job: 0.0, job_aoa: 0.0, chat: 0.0}
  max_attack_success: null
  max_over_refusal: null
  max_task_drop: null
run:
  testbed: {name: tiny}
  eval_base: false
  train: {method: full, n_epochs: 1, per_device_batch_size: 16, learning_rate: 0.001, save_steps: 5,
          max_seq_length: 320, show_progress: false}
  eval:
    n_validation: 8
    max_new_tokens: 8
    batch_size: 32
    bootstrap: 10
    styles: [job, job_aoa, chat]
    probes: [{source: builtin, kind: harmful, limit: 6}, {source: builtin, kind: benign, limit: 4}]
"""
