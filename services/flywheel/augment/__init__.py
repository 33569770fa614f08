"""Error-targeted data augmentation (paper section 4, RQ2): mine the student's training-set mistakes, paraphrase
those intents with an LLM, give the paraphrases the source intent's ground truth, register a derived split."""
