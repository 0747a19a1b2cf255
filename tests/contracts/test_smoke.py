from tests.conftest import Platform


def test_deploy_wires_contracts(chain: Platform) -> None:
    coin = chain.client.contract("DataCoin")
    assert coin.functions.symbol().call() == "DATACOIN"
    market = chain.client.contract("Marketplace")
    assert market.functions.token().call() == coin.address
