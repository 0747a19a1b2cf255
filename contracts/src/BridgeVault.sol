// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {BridgeAuthority, BridgeMessage} from "./BridgeAuthority.sol";
import {Permits} from "./Permits.sol";

/// @title DATACOIN bridge, home chain: the vault
/// @notice Locks DATACOIN sent to the remote chain (where the gateway mints as much) and
///         releases it when the relayers prove a burn on the remote chain.
/// @dev Invariant: `totalLocked` = DATACOIN locked minus released = the bridged supply on
///      the remote chain plus transfers in flight. The vault's balance is at least
///      `totalLocked` (equal unless someone transferred DATACOIN to it directly).
contract BridgeVault is BridgeAuthority, ReentrancyGuard {
    using SafeERC20 for IERC20;

    /// @notice DATACOIN.
    IERC20 public immutable token;
    /// @notice DATACOIN held for the remote chain's bridged supply and transfers in flight.
    uint256 public totalLocked;

    /// @notice `from` locked `amount` for `to` on `destChainId`; message `nonce` of this vault.
    event BridgeLocked(
        bytes32 indexed messageId,
        address indexed from,
        address indexed to,
        uint256 amount,
        uint256 destChainId,
        uint256 nonce
    );
    /// @notice A burn on `sourceChainId` was proven: `amount` went back to `to`.
    event BridgeReleased(
        bytes32 indexed messageId, address indexed to, uint256 amount, uint256 sourceChainId
    );

    error ExceedsLocked(uint256 amount, uint256 totalLocked);

    /// @param token_ DATACOIN.
    /// @param peerChainId_ The remote chain's id.
    /// @param relayers_ The initial relayer set.
    /// @param threshold_ Signatures a message needs.
    /// @param owner_ May rotate relayers and change the peer (the Timelock under governance).
    constructor(
        IERC20 token_,
        uint256 peerChainId_,
        address[] memory relayers_,
        uint256 threshold_,
        address owner_
    ) BridgeAuthority(peerChainId_, relayers_, threshold_, owner_) {
        token = token_;
    }

    /// @notice Lock `amount` DATACOIN of the caller for `to` on `destChainId` (approve
    ///         first, or use `lockWithPermit`).
    /// @return messageId The message the relayers carry to the remote chain.
    function lock(address to, uint256 amount, uint256 destChainId)
        external
        nonReentrant
        returns (bytes32 messageId)
    {
        return _lock(to, amount, destChainId);
    }

    /// @notice `lock` with an EIP-2612 permit for the vault instead of a prior approval.
    /// @dev A permit someone else submitted first does not fail the call (see Permits).
    function lockWithPermit(
        address to,
        uint256 amount,
        uint256 destChainId,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external nonReentrant returns (bytes32 messageId) {
        Permits.permitOrAllowance(token, msg.sender, amount, deadline, v, r, s);
        return _lock(to, amount, destChainId);
    }

    /// @notice Release DATACOIN for a burn on the remote chain, proven by `signatures` of
    ///         the current relayers (sorted by signer address, ascending).
    function release(BridgeMessage calldata m, bytes[] calldata signatures) external nonReentrant {
        _accept(m, signatures);
        uint256 locked = totalLocked;
        if (m.amount > locked) revert ExceedsLocked(m.amount, locked);
        totalLocked = locked - m.amount;
        emit BridgeReleased(m.messageId, m.to, m.amount, m.sourceChainId);
        token.safeTransfer(m.to, m.amount);
    }

    function _lock(address to, uint256 amount, uint256 destChainId)
        private
        returns (bytes32 messageId)
    {
        uint256 nonce;
        (messageId, nonce) = _nextOutbound(to, amount, destChainId);
        totalLocked += amount;
        emit BridgeLocked(messageId, msg.sender, to, amount, destChainId, nonce);
        token.safeTransferFrom(msg.sender, address(this), amount);
    }
}
