"""The reality check (docs/reality.md): a model's sample of test intents rendered on photos, judged by annotators in
the browser (relevancy and mimicry, as in the paper), stored in Postgres and summarised per model."""
