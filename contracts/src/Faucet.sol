// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {DataCoin} from "./DataCoin.sol";

/// @title Dev faucet
/// @notice Mints a fixed amount of DATACOIN to whoever asks, at most once per cooldown.
///         Deployed on development chains only; it needs DataCoin's MINTER_ROLE.
contract Faucet {
    /// @notice The token this faucet mints.
    DataCoin public immutable token;
    /// @notice Amount minted per drip, in wei.
    uint256 public immutable dripAmount;
    /// @notice Seconds an address must wait between drips.
    uint64 public immutable cooldown;
    /// @notice Timestamp of each address's last drip.
    mapping(address account => uint64) public lastDrip;

    /// @notice Emitted when `to` receives `amount` from the faucet.
    event Dripped(address indexed to, uint256 amount);

    /// @notice The caller dripped less than `cooldown` seconds ago.
    error FaucetCooldown(uint64 availableAt);

    /// @param token_ DATACOIN (this faucet must hold its MINTER_ROLE).
    /// @param dripAmount_ Amount minted per drip.
    /// @param cooldown_ Seconds between two drips to one address.
    constructor(DataCoin token_, uint256 dripAmount_, uint64 cooldown_) {
        token = token_;
        dripAmount = dripAmount_;
        cooldown = cooldown_;
    }

    /// @notice Mint `dripAmount` DATACOIN to the caller.
    function drip() external {
        uint64 last = lastDrip[msg.sender];
        if (last != 0 && block.timestamp < uint256(last) + cooldown) {
            revert FaucetCooldown(last + cooldown);
        }
        lastDrip[msg.sender] = uint64(block.timestamp);
        emit Dripped(msg.sender, dripAmount);
        token.mint(msg.sender, dripAmount);
    }
}
