"""Public facts the defaults come from (DESIGN.md)."""

# Authorised e-CNY operators: the six large state-owned banks and two online banks.
OPERATORS = [
    ("ICBC", "Industrial and Commercial Bank of China", "中国工商银行"),
    ("ABC", "Agricultural Bank of China", "中国农业银行"),
    ("BOC", "Bank of China", "中国银行"),
    ("CCB", "China Construction Bank", "中国建设银行"),
    ("BOCOM", "Bank of Communications", "交通银行"),
    ("PSBC", "Postal Savings Bank of China", "中国邮政储蓄银行"),
    ("WEBANK", "WeBank", "微众银行"),
    ("MYBANK", "MYbank", "网商银行"),
]

# Wallet classes: (number, name, KYC, balance cap, single, daily, annual) in yuan, None = no
# limit. Classes 1, 2 and 4 from Caixin (2021); class 3 assumed between 2 and 4.
WALLET_CLASSES_DEFAULT = [
    (1, "Class 1", "In person at the operator", None, None, None, None),
    (2, "Class 2", "Remote ID check and a linked bank account", 500_000, 50_000, 100_000, None),
    (3, "Class 3", "Remote ID check, no linked bank account", 20_000, 5_000, 10_000, None),
    (4, "Class 4", "Phone number only (anonymous)", 10_000, 2_000, 5_000, None),
]

# CCB's 2020 wallet agreement: lower figures for classes 3 and 4, with annual caps.
WALLET_CLASSES_CCB_2020 = {
    3: (20_000, 5_000, 10_000, None),
    4: (1_000, 500, 1_000, 10_000),
}

# Limit tables the console can switch to: class -> (balance cap, single, daily, annual) in
# yuan, None = no limit. Classes a preset does not name keep their limits.
LIMIT_PRESETS = {
    "caixin_2021": {
        "title": "Defaults (Caixin 2021; class 3 assumed)",
        "classes": {number: tuple(limits) for number, _, _, *limits in WALLET_CLASSES_DEFAULT},
    },
    "ccb_2020": {
        "title": "CCB 2020 wallet agreement (lower classes 3 and 4, annual caps)",
        "classes": WALLET_CLASSES_CCB_2020,
    },
}


# Open personal wallets of a class one person may hold across all operators (None: no cap),
# counted through the central bank's keyed hash of their identity or phone number. One
# anonymous (class-4) wallet per phone number is assumed (DESIGN.md's sources give no
# figure): without a cap, one phone could open a class-4 wallet at each operator and move
# several times the class's limits anonymously. Classes 1-3 are named wallets the central
# bank can trace, left uncapped by default. The central bank's policy staff edit these.
WALLETS_PER_PERSON_DEFAULT = {1: None, 2: None, 3: None, 4: 1}
# The most a hardware wallet may hold offline, by the class of the wallet it is registered
# to, in yuan: the central bank's risk parameter for dual-offline payments (Suzhou, 2020).
# No published figure: assumed, a tenth of class 4's balance cap for anonymous wallets and
# growing with KYC. Bounded because an offline payment cannot be checked against a balance:
# a cloned device's payees share at most this much between them.
OFFLINE_RESERVE_CAPS_DEFAULT = {1: 5_000, 2: 2_000, 3: 1_000, 4: 500}


def seed_offline_limits(offline_limit_model) -> None:
    """Create missing offline limits with the defaults, in fen."""
    for number, cap in OFFLINE_RESERVE_CAPS_DEFAULT.items():
        offline_limit_model.objects.get_or_create(
            wallet_class_id=number, defaults={"reserve_cap": cap * 100}
        )


def seed_reference_data(wallet_class_model) -> None:
    """Create missing wallet classes with the default limits, in fen, and caps."""
    fields = ("balance_cap", "single_limit", "daily_limit", "annual_limit")
    for number, name, kyc, *limits in WALLET_CLASSES_DEFAULT:
        wallet_class_model.objects.get_or_create(
            number=number,
            defaults={
                "name": name,
                "kyc_requirement": kyc,
                **{f: None if v is None else v * 100 for f, v in zip(fields, limits, strict=True)},
                "wallets_per_person": WALLETS_PER_PERSON_DEFAULT[number],
            },
        )


# ISO 18245 merchant category codes a registration may use: the common retail ones.
MERCHANT_CATEGORIES = {
    "4111": "Commuter transport",
    "4121": "Taxis and ride hailing",
    "4814": "Telecommunication services",
    "4900": "Utilities",
    "5311": "Department stores",
    "5331": "Variety stores",
    "5411": "Grocery stores and supermarkets",
    "5499": "Convenience and speciality food stores",
    "5541": "Service stations",
    "5651": "Family clothing stores",
    "5732": "Electronics stores",
    "5812": "Restaurants",
    "5814": "Fast food",
    "5912": "Pharmacies",
    "5942": "Book stores",
    "5999": "Miscellaneous retail",
    "7011": "Hotels",
    "7832": "Cinemas",
    "8062": "Hospitals",
    "8220": "Universities and colleges",
    "9311": "Tax payments",
    "9399": "Government services",
}

# GB/T 2260 administrative division codes of the pilot areas the defaults come from.
REGIONS = {
    "110105": "Beijing, Chaoyang",
    "310115": "Shanghai, Pudong",
    "320505": "Suzhou, Huqiu",
    "320508": "Suzhou, Gusu",
    "440303": "Shenzhen, Luohu",
    "440304": "Shenzhen, Futian",
    "440305": "Shenzhen, Nanshan",
    "510107": "Chengdu, Wuhou",
    "130629": "Xiong'an, Rongcheng",
}
