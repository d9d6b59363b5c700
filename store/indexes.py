"""The indexes per-event paths and /ops read instead of walking the deployment (owner → reps, connected reps and
teams, parked reps, each team's subscribers, dead letters by reason, team and rep), built at start for what was
kept before they existed. Each step is idempotent and, once done, a single read."""

from __future__ import annotations

from store.connections import ConnectionStore
from store.dead_letters import DeadLetters
from store.parking import ParkingLot
from store.subscriptions import SubscriptionStore
from store.users import UserDirectory


async def ensure_indexes(users: UserDirectory, connections: ConnectionStore, parking: ParkingLot,
                         subscriptions: SubscriptionStore, dead_letters: DeadLetters) -> dict[str, int]:
    """How many entries each index gained (all zero on every start after the first)."""
    return {
        "owners": await users.ensure_owner_index(),
        "connections": await connections.ensure_indexed(),
        "parked_reps": await parking.ensure_indexed(),
        "subscribers": await subscriptions.ensure_indexed(),
        "dead_letters": await dead_letters.ensure_indexed(),
    }
