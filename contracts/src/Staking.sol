// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Votes} from "@openzeppelin/contracts/governance/utils/Votes.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {Permits} from "./Permits.sol";

/// @title DATACOIN staking
/// @notice Accounts stake DATACOIN; unstaking is a request followed, after a cooldown, by
///         the withdrawal. Training workers need a minimum active stake (see TrainingLog).
///         Active stake is also governance voting power (OpenZeppelin Votes, read by the
///         Governor at each proposal's snapshot): one voting unit per wei staked.
/// @dev A requested amount stops counting as stake at once, so a worker cannot announce
///      its exit and keep logging jobs on stake it is about to take back; for the same
///      reason it stops counting as votes at once (the withdrawal itself moves no votes).
///      Votes are checkpointed by block number (Votes' default clock, as DataCoin's).
///      A staker's first stake delegates its votes to itself unless it chose a delegate
///      before; delegating to the zero address is refused, so every staker's votes count
///      for someone (`delegate` moves them).
contract Staking is ReentrancyGuard, Votes {
    using SafeERC20 for IERC20;

    struct PendingUnstake {
        uint256 amount;
        uint64 availableAt;
    }

    /// @notice The staked token (DATACOIN).
    IERC20 public immutable token;
    /// @notice Seconds between an unstake request and the withdrawal.
    uint64 public immutable cooldown;
    /// @notice Sum of all active stakes.
    uint256 public totalStaked;

    mapping(address account => uint256) private _stakes;
    mapping(address account => PendingUnstake) private _pending;

    /// @notice `account` staked `amount`; its active stake is now `newStake`.
    event Staked(address indexed account, uint256 amount, uint256 newStake);
    /// @notice `account` asked to unstake `amount`; its active stake is now `newStake`,
    ///         and `pendingAmount` (all requests so far) is withdrawable at `availableAt`.
    event UnstakeRequested(
        address indexed account,
        uint256 amount,
        uint256 newStake,
        uint256 pendingAmount,
        uint64 availableAt
    );
    /// @notice `account` withdrew `amount` after the cooldown.
    event Unstaked(address indexed account, uint256 amount);

    error ZeroAmount();
    error InsufficientStake(uint256 staked, uint256 requested);
    error NothingPending();
    error CooldownActive(uint64 availableAt);
    error ZeroDelegate();

    /// @param token_ DATACOIN.
    /// @param cooldown_ Seconds from an unstake request to its withdrawal.
    constructor(IERC20 token_, uint64 cooldown_) EIP712("Datacoin Staking", "1") {
        token = token_;
        cooldown = cooldown_;
    }

    /// @notice Stake `amount` DATACOIN (approve first, or use `stakeWithPermit`).
    /// @param amount Amount in wei.
    function stake(uint256 amount) external nonReentrant {
        _stake(amount);
    }

    /// @notice `stake` in one transaction, without a prior approve: the caller signs an
    ///         EIP-2612 permit for `amount` to this contract.
    /// @dev A permit someone else submitted first does not fail the call (see Permits).
    /// @param amount Amount in wei, and the permit's value.
    /// @param deadline The permit's deadline.
    /// @param v Permit signature.
    /// @param r Permit signature.
    /// @param s Permit signature.
    function stakeWithPermit(uint256 amount, uint256 deadline, uint8 v, bytes32 r, bytes32 s)
        external
        nonReentrant
    {
        Permits.permitOrAllowance(token, msg.sender, amount, deadline, v, r, s);
        _stake(amount);
    }

    function _stake(uint256 amount) private {
        if (amount == 0) revert ZeroAmount();
        // Before the stake grows: a first stake's self-delegation moves no units (there
        // are none yet), then the transfer below adds the amount once.
        if (delegates(msg.sender) == address(0)) _delegate(msg.sender, msg.sender);
        uint256 newStake = _stakes[msg.sender] + amount;
        _stakes[msg.sender] = newStake;
        totalStaked += amount;
        _transferVotingUnits(address(0), msg.sender, amount);
        emit Staked(msg.sender, amount, newStake);
        token.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @notice Start the cooldown for `amount` of your stake. A new request adds to the
    ///         pending amount and restarts the cooldown for all of it.
    /// @param amount Amount in wei.
    function requestUnstake(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        uint256 staked = _stakes[msg.sender];
        if (amount > staked) revert InsufficientStake(staked, amount);
        uint256 newStake = staked - amount;
        _stakes[msg.sender] = newStake;
        totalStaked -= amount;
        _transferVotingUnits(msg.sender, address(0), amount);
        PendingUnstake storage p = _pending[msg.sender];
        p.amount += amount;
        p.availableAt = uint64(block.timestamp) + cooldown;
        emit UnstakeRequested(msg.sender, amount, newStake, p.amount, p.availableAt);
    }

    /// @notice Withdraw your pending unstake once its cooldown has passed.
    function unstake() external nonReentrant {
        PendingUnstake memory p = _pending[msg.sender];
        if (p.amount == 0) revert NothingPending();
        if (block.timestamp < p.availableAt) revert CooldownActive(p.availableAt);
        delete _pending[msg.sender];
        emit Unstaked(msg.sender, p.amount);
        token.safeTransfer(msg.sender, p.amount);
    }

    /// @notice Active stake of `account` (pending unstakes excluded).
    /// @param account The account.
    /// @return Amount in wei.
    function stakeOf(address account) external view returns (uint256) {
        return _stakes[account];
    }

    /// @notice Pending unstake of `account`.
    /// @param account The account.
    /// @return amount Amount waiting for the cooldown.
    /// @return availableAt When it can be withdrawn.
    function pendingUnstake(address account)
        external
        view
        returns (uint256 amount, uint64 availableAt)
    {
        PendingUnstake memory p = _pending[account];
        return (p.amount, p.availableAt);
    }

    /// @dev Voting units are the active stake: pending unstakes carry no votes.
    function _getVotingUnits(address account) internal view override returns (uint256) {
        return _stakes[account];
    }

    /// @dev Refuses the zero delegate (through `delegate` and `delegateBySig` alike): a
    ///      staker's votes always belong to someone, and a first stake's self-delegation
    ///      cannot be undone into "no delegate" by accident.
    function _delegate(address account, address delegatee) internal override {
        if (delegatee == address(0)) revert ZeroDelegate();
        super._delegate(account, delegatee);
    }
}
