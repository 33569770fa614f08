"""Student fine-tuning: config, data formatting, tiny from-scratch models, the training loop and launchers."""
