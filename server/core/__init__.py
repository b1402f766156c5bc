"""The domain: barrages, their statuses, decisions, events and input policy.

Nothing here imports a transport, the ORM or a bus; it talks to its ports.
"""
