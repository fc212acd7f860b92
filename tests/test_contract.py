from tenure.data.contract import CONTRACTS, LOAD_ORDER, Kind


def test_every_table_of_the_spec_has_a_contract() -> None:
    assert set(CONTRACTS) == {
        "accounts",
        "users",
        "subscriptions",
        "orders",
        "events",
        "survey_responses",
        "tickets",
        "costs",
        "fx_rates",
    }


def test_keys_rules_and_examples_refer_to_declared_columns() -> None:
    for contract in CONTRACTS.values():
        names = set(contract.column_names)
        assert set(contract.key) <= names, contract.name
        assert all(contract.column(k).required for k in contract.key), contract.name
        assert {check.column for check in contract.row_checks} <= names, contract.name
        assert set(contract.normalise) <= names, contract.name
        canonical_in_example = set(contract.example) & names
        assert set(contract.required_columns) <= canonical_in_example | {"currency"}, contract.name


def test_money_is_exact_and_timestamps_are_naive_utc() -> None:
    for contract in CONTRACTS.values():
        for col in contract.columns:
            if col.name in ("amount",):
                assert col.kind is Kind.MONEY and col.kind.sql.startswith("DECIMAL")
    assert Kind.TIMESTAMP.sql == "TIMESTAMP"


def test_kinds_are_distinct_members() -> None:
    # Enum members with equal values silently become aliases; each kind must stay itself.
    assert len({k.value for k in Kind}) == len(list(Kind))


def test_fx_rates_load_first() -> None:
    assert LOAD_ORDER[0] == "fx_rates" and set(LOAD_ORDER) == set(CONTRACTS)
