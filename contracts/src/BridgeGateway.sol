// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {BridgeAuthority, BridgeMessage} from "./BridgeAuthority.sol";
import {BridgedDataCoin} from "./BridgedDataCoin.sol";

/// @title DATACOIN bridge, remote chain: the gateway
/// @notice Mints bridged DATACOIN when the relayers prove a lock on the home chain, and
///         burns it on the way back (the relayers then prove the burn to the home vault).
/// @dev Invariant: the bridged token's total supply = minted - burned here, and every
///      message id is minted at most once.
contract BridgeGateway is BridgeAuthority {
    /// @notice The bridged DATACOIN (this gateway is its only minter and burner).
    BridgedDataCoin public immutable token;

    /// @notice A lock on `sourceChainId` was proven: `amount` minted to `to`.
    event BridgeMinted(
        bytes32 indexed messageId, address indexed to, uint256 amount, uint256 sourceChainId
    );
    /// @notice `from` burned `amount` for `to` on `destChainId`; message `nonce` of this gateway.
    event BridgeBurned(
        bytes32 indexed messageId,
        address indexed from,
        address indexed to,
        uint256 amount,
        uint256 destChainId,
        uint256 nonce
    );

    /// @param token_ The bridged DATACOIN (its deployer then sets this gateway on it).
    /// @param peerChainId_ The home chain's id.
    /// @param relayers_ The initial relayer set.
    /// @param threshold_ Signatures a message needs.
    /// @param owner_ May rotate relayers and change the peer.
    constructor(
        BridgedDataCoin token_,
        uint256 peerChainId_,
        address[] memory relayers_,
        uint256 threshold_,
        address owner_
    ) BridgeAuthority(peerChainId_, relayers_, threshold_, owner_) {
        token = token_;
    }

    /// @notice Mint for a lock on the home chain, proven by `signatures` of the current
    ///         relayers (sorted by signer address, ascending).
    function deliver(BridgeMessage calldata m, bytes[] calldata signatures) external {
        _accept(m, signatures);
        emit BridgeMinted(m.messageId, m.to, m.amount, m.sourceChainId);
        token.mint(m.to, m.amount);
    }

    /// @notice Burn `amount` of the caller's bridged DATACOIN, to be released to `to` on
    ///         `destChainId` (the home chain). No approval needed: the gateway is the
    ///         token's burner and burns only its caller's tokens.
    /// @return messageId The message the relayers carry to the home chain.
    function burn(address to, uint256 amount, uint256 destChainId)
        external
        returns (bytes32 messageId)
    {
        uint256 nonce;
        (messageId, nonce) = _nextOutbound(to, amount, destChainId);
        emit BridgeBurned(messageId, msg.sender, to, amount, destChainId, nonce);
        token.burn(msg.sender, amount);
    }
}
