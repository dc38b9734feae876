"""Reads of the ledger."""

from dataclasses import dataclass

from django.db.models import OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce

from settlement.models import Account, AccountKind, Asset, BatchCommit, Transfer


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
