// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Capped} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Capped.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {ERC20Votes} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Votes.sol";
import {Multicall} from "@openzeppelin/contracts/utils/Multicall.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";

/// @title DATACOIN
/// @notice The marketplace's ERC-20 token: capped supply, EIP-2612 permits and
///         checkpointed voting power for the governance that comes later.
/// @dev Minting is restricted to MINTER_ROLE (granted to the dev faucet and, later, to
///      emission contracts). The cap is enforced by ERC20Capped in `_update`. Multicall
///      batches transfers (airdrops, payouts) into one transaction.
contract DataCoin is ERC20, ERC20Capped, ERC20Permit, ERC20Votes, AccessControl, Multicall {
    /// @notice Role allowed to mint new tokens up to the cap.
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");

    /// @param admin Receives DEFAULT_ADMIN_ROLE (may grant and revoke MINTER_ROLE).
    /// @param supplyCap Maximum total supply, in wei (18 decimals).
    /// @param initialSupply Minted to `admin` at deployment (must not exceed the cap).
    constructor(address admin, uint256 supplyCap, uint256 initialSupply)
        ERC20("DATACOIN", "DATACOIN")
        ERC20Capped(supplyCap)
        ERC20Permit("DATACOIN")
    {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        if (initialSupply > 0) {
            _mint(admin, initialSupply);
        }
    }

    /// @notice Mint `amount` tokens to `to`.
    /// @dev Reverts with AccessControlUnauthorizedAccount without MINTER_ROLE and with
    ///      ERC20ExceededCap past the cap.
    /// @param to Recipient.
    /// @param amount Amount in wei.
    function mint(address to, uint256 amount) external onlyRole(MINTER_ROLE) {
        _mint(to, amount);
    }

    /// @inheritdoc ERC20Permit
    function nonces(address owner) public view override(ERC20Permit, Nonces) returns (uint256) {
        return super.nonces(owner);
    }

    function _update(address from, address to, uint256 value)
        internal
        override(ERC20, ERC20Capped, ERC20Votes)
    {
        super._update(from, to, value);
    }
}
