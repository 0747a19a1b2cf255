// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";

/// @title Datacoin timelock
/// @notice OpenZeppelin's TimelockController, unchanged: after deployment it owns the
///         Marketplace and TrainingLog (and DataCoin's admin role), the Governor is its only
///         proposer and canceller, anyone may execute a queued operation once its delay
///         has passed, and it administers itself (no admin account).
/// @dev Its own contract so the platform's compiled artifacts include it.
contract Timelock is TimelockController {
    /// @param minDelay Seconds between queuing an operation and its earliest execution.
    /// @param proposers Accounts that may schedule (and cancel) operations.
    /// @param executors Accounts that may execute; the zero address means anyone.
    /// @param admin Optional admin for the setup (the zero address: none).
    constructor(
        uint256 minDelay,
        address[] memory proposers,
        address[] memory executors,
        address admin
    ) TimelockController(minDelay, proposers, executors, admin) {}
}
