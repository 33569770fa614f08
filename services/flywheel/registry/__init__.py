"""Model registry: trained models, their evaluations and the promotion gate."""
