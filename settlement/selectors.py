"""Reads of the ledger."""

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from django.db.models import OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce

from settlement.models import Account, AccountKind, Asset, BatchCommit, LimitUsage, Transfer
from settlement.usage import CurrentPeriods, UsageKey, usage_on_rows


@dataclass(frozen=True)
class MoneyTotals:
    """The two-tier invariant: circulation == -issuance == reserve backing."""

    circulation: int  # every ECNY balance but the issuance account: vaults, wallets, escrow
    issuance: int  # the central bank's issuance account (its liability, negative)
    backing: int  # RESERVE held by the central bank against e-CNY

    @property
    def balanced(self) -> bool:
        return self.circulation == -self.issuance == self.backing


def money_totals() -> MoneyTotals:
    sums = Account.objects.aggregate(
        circulation=Sum("balance", filter=Q(asset=Asset.ECNY) & ~Q(kind=AccountKind.ISSUANCE)),
        issuance=Sum("balance", filter=Q(kind=AccountKind.ISSUANCE)),
        backing=Sum("balance", filter=Q(kind=AccountKind.BACKING)),
    )
    return MoneyTotals(**{name: value or 0 for name, value in sums.items()})


def with_visible_at(transfers: QuerySet[Transfer]) -> QuerySet[Transfer]:
    """Each transfer with `visible_at`: when its decision was committed (its batch's
    BatchCommit), or `decided_at` where no commit was noted; None while undecided."""
    committed = BatchCommit.objects.filter(decided_at=OuterRef("decided_at"))
    return transfers.annotate(
        visible_at=Coalesce(Subquery(committed.values("committed_at")[:1]), "decided_at")
    )


def limit_usage(
    current: Mapping[int, CurrentPeriods], periods: Iterable[tuple[date, date]]
) -> dict[UsageKey, int]:
    """What the accounts of `current` paid out in the (day, year) `periods`, by usage key:
    from their rows, and an earlier period from LimitUsage (settlement/usage.py). A key
    left out is nothing spent."""
    periods = set(periods)
    usage, earlier = usage_on_rows(
        current, days={day for day, _ in periods}, years={year for _, year in periods}
    )
    if earlier:
        wanted = set(earlier)
        for account_id, period, start, spent in LimitUsage.objects.filter(
            account_id__in={key[0] for key in earlier}, start__in={key[2] for key in earlier}
        ).values_list("account_id", "period", "start", "spent"):
            if (account_id, period, start) in wanted:
                usage[(account_id, period, start)] = spent
    return usage
