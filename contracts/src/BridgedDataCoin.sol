// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {ERC20Votes} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Votes.sol";
import {Multicall} from "@openzeppelin/contracts/utils/Multicall.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";

/// @title DATACOIN on a remote chain
/// @notice The bridged form of DATACOIN: same name, symbol, decimals, permit domain name
///         and interface as DataCoin for everything the platform and wallets use
///         (transfers, EIP-2612 permits, votes, multicall). Its whole supply comes over the
///         bridge: only the gateway mints (on a proven lock on the home chain) and burns
///         (on the way back).
/// @dev The gateway is set once, by the deployer, right after the gateway is deployed (the
///      gateway needs this token's address first). Until then nobody can mint.
contract BridgedDataCoin is ERC20, ERC20Permit, ERC20Votes, Multicall {
    /// @notice The BridgeGateway, the only minter and burner.
    address public gateway;
    address private immutable _deployer;

    /// @notice The gateway was set (once).
    event GatewaySet(address indexed gateway);

    error NotGateway(address caller);
    error NotDeployer(address caller);
    error GatewayAlreadySet(address gateway);
    error InvalidGateway();

    modifier onlyGateway() {
        if (msg.sender != gateway) revert NotGateway(msg.sender);
        _;
    }

    constructor() ERC20("DATACOIN", "DATACOIN") ERC20Permit("DATACOIN") {
        _deployer = msg.sender;
    }

    /// @notice Set the gateway: once, by the deployer.
    function setGateway(address gateway_) external {
        if (msg.sender != _deployer) revert NotDeployer(msg.sender);
        if (gateway != address(0)) revert GatewayAlreadySet(gateway);
        if (gateway_ == address(0)) revert InvalidGateway();
        gateway = gateway_;
        emit GatewaySet(gateway_);
    }

    /// @notice Mint `amount` to `to` (the gateway, for a proven lock).
    function mint(address to, uint256 amount) external onlyGateway {
        _mint(to, amount);
    }

    /// @notice Burn `amount` of `from`'s tokens (the gateway, for the caller of its `burn`).
    function burn(address from, uint256 amount) external onlyGateway {
        _burn(from, amount);
    }

    /// @inheritdoc ERC20Permit
    function nonces(address owner) public view override(ERC20Permit, Nonces) returns (uint256) {
        return super.nonces(owner);
    }

    function _update(address from, address to, uint256 value)
        internal
        override(ERC20, ERC20Votes)
    {
        super._update(from, to, value);
    }
}
