"""Integrations that the local engine never needs: each imports its heavy
dependencies (boto3) only inside its own folder, and only when it is used."""
