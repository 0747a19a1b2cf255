from tests.contracts.helpers import *
def test_dbg(chain):
    w3 = chain.client.w3
    faucet = chain.client.contract("Faucet")
    user = chain.account(8)
    r = user.send(faucet.functions.drip())
    tx = {"from": user.address, "to": faucet.address, "data": faucet.encode_abi("drip")}
    print("latest", w3.eth.estimate_gas(tx), "pending", w3.eth.estimate_gas(tx, "pending"), "default-raw", w3.provider.make_request("eth_estimateGas", [tx]))
