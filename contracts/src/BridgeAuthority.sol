// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable, Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";

/// @notice One transfer crossing the bridge, as the relayers sign it (EIP-712).
/// @dev `messageId` is `BridgeAuthority.messageIdOf(sourceChainId, destChainId, sending
///      contract, nonce)`: one id per message the sending contract ever emitted.
struct BridgeMessage {
    bytes32 messageId;
    uint256 sourceChainId;
    uint256 destChainId;
    address from;
    address to;
    uint256 amount;
    uint256 nonce;
}

/// @title The bridge's trust: a k-of-n relayer set signing messages (EIP-712)
/// @notice Shared by the home chain's BridgeVault and the remote chain's BridgeGateway. A
///         message is accepted when at least `threshold` current relayers signed it, it is
///         addressed to this chain from the configured peer chain and peer contract, and
///         its id was never accepted before. The owner (the Timelock under governance)
///         rotates the relayer set; signatures of an earlier set no longer count.
/// @dev What this trusts: that fewer than `threshold` relayer keys are dishonest or stolen.
///      It is not a light client: no proof of the source chain's consensus is checked.
///      The EIP-712 domain ("DatacoinBridge", "1", chain id, this contract) binds each
///      signature to the receiving contract on the receiving chain.
abstract contract BridgeAuthority is Ownable2Step, EIP712 {
    /// @notice EIP-712 type hash of `BridgeMessage`.
    bytes32 public constant BRIDGE_MESSAGE_TYPEHASH = keccak256(
        "BridgeMessage(bytes32 messageId,uint256 sourceChainId,uint256 destChainId,"
        "address from,address to,uint256 amount,uint256 nonce)"
    );
    /// @notice Largest relayer set (bounds the gas of a rotation and of a verification).
    uint256 public constant MAX_RELAYERS = 32;

    /// @notice The one chain this contract exchanges messages with.
    uint256 public immutable peerChainId;
    /// @notice The bridge contract on the peer chain (vault <-> gateway); zero until linked.
    address public peer;
    /// @notice Incremented by every relayer-set change; the constructor's set is epoch 1.
    uint256 public relayerEpoch;
    /// @notice Signatures of distinct current relayers a message needs.
    uint256 public threshold;
    /// @notice Messages sent from this contract; the latest message's nonce.
    uint256 public outboundNonce;
    /// @notice Whether a message id was accepted here (each is accepted at most once).
    mapping(bytes32 messageId => bool) public processed;

    /// @dev May link `peer` once, while it is unset (deployment wiring: the two sides are
    ///      deployed on two chains, one after the other).
    address private immutable _linker;
    address[] private _relayers;
    /// @dev An address is a current relayer iff its entry equals `relayerEpoch`: a rotation
    ///      retires the whole previous set without clearing it.
    mapping(address relayer => uint256 epoch) private _relayerEpochOf;

    /// @notice The relayer set changed (also emitted at construction, epoch 1).
    event RelayerSetChanged(uint256 epoch, address[] relayers, uint256 threshold);
    /// @notice The peer contract changed.
    event PeerChanged(address indexed oldPeer, address indexed newPeer);

    error WrongDestination(uint256 destChainId);
    error WrongSource(uint256 sourceChainId);
    error UnknownDestination(uint256 destChainId);
    error InvalidMessageId(bytes32 messageId, bytes32 expected);
    error AlreadyProcessed(bytes32 messageId);
    error BelowThreshold(uint256 signatures, uint256 threshold);
    error InvalidSignature(uint256 index);
    error UnknownSigner(address signer);
    error DuplicateSigner(address signer);
    error SignersNotSorted(uint256 index);
    error InvalidRelayerCount(uint256 count);
    error InvalidThreshold(uint256 threshold, uint256 relayers);
    error InvalidRelayer(address relayer);
    error DuplicateRelayer(address relayer);
    error InvalidPeerChain(uint256 chainId);
    error InvalidPeer(address peer);
    error PeerNotSet();
    error NotPeerAdmin(address caller);
    error InvalidRecipient(address to);
    error ZeroAmount();

    /// @param peerChainId_ The peer chain's id (not this chain's).
    /// @param relayers_ The initial relayer set.
    /// @param threshold_ Signatures a message needs (1..relayers_.length).
    /// @param owner_ May rotate the relayers and change the peer.
    constructor(uint256 peerChainId_, address[] memory relayers_, uint256 threshold_, address owner_)
        Ownable(owner_)
        EIP712("DatacoinBridge", "1")
    {
        if (peerChainId_ == 0 || peerChainId_ == block.chainid) revert InvalidPeerChain(peerChainId_);
        peerChainId = peerChainId_;
        _linker = msg.sender;
        _setRelayers(relayers_, threshold_);
    }

    // -- administration ----------------------------------------------------------------

    /// @notice Replace the relayer set: from now on only `relayers_` sign, `threshold_` of
    ///         them per message.
    /// @param relayers_ Distinct non-zero addresses (1..MAX_RELAYERS of them).
    /// @param threshold_ 1..relayers_.length.
    function setRelayers(address[] calldata relayers_, uint256 threshold_) external onlyOwner {
        _setRelayers(relayers_, threshold_);
    }

    /// @notice Set the bridge contract on the peer chain. The deployer may do it once, while
    ///         it is unset (linking the two freshly deployed sides); the owner at any time.
    /// @param newPeer The peer chain's BridgeVault or BridgeGateway.
    function setPeer(address newPeer) external {
        bool linking = msg.sender == _linker && peer == address(0);
        if (!linking && msg.sender != owner()) revert NotPeerAdmin(msg.sender);
        if (newPeer == address(0)) revert InvalidPeer(newPeer);
        emit PeerChanged(peer, newPeer);
        peer = newPeer;
    }

    // -- views ------------------------------------------------------------------------

    /// @notice The current relayer set.
    function relayers() external view returns (address[] memory) {
        return _relayers;
    }

    /// @notice Whether `account` is in the current relayer set.
    function isRelayer(address account) public view returns (bool) {
        return account != address(0) && _relayerEpochOf[account] == relayerEpoch;
    }

    /// @notice The id of the message `sender` (a bridge contract on `sourceChainId`) sent
    ///         to `destChainId` with `nonce`: keccak256(abi.encode(sourceChainId,
    ///         destChainId, sender, nonce)).
    function messageIdOf(uint256 sourceChainId, uint256 destChainId, address sender, uint256 nonce)
        public
        pure
        returns (bytes32)
    {
        return keccak256(abi.encode(sourceChainId, destChainId, sender, nonce));
    }

    /// @notice The EIP-712 digest relayers sign for `m` (this contract's domain).
    function hashMessage(BridgeMessage calldata m) public view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(
                abi.encode(
                    BRIDGE_MESSAGE_TYPEHASH,
                    m.messageId,
                    m.sourceChainId,
                    m.destChainId,
                    m.from,
                    m.to,
                    m.amount,
                    m.nonce
                )
            )
        );
    }

    // -- for the vault and the gateway --------------------------------------------------

    /// @dev Check an outgoing transfer and give it the next nonce and its message id.
    function _nextOutbound(address to, uint256 amount, uint256 destChainId)
        internal
        returns (bytes32 messageId, uint256 nonce)
    {
        if (destChainId != peerChainId) revert UnknownDestination(destChainId);
        address peer_ = peer;
        if (peer_ == address(0)) revert PeerNotSet();
        // Tokens sent to the peer contract itself would be stranded there.
        if (to == address(0) || to == peer_) revert InvalidRecipient(to);
        if (amount == 0) revert ZeroAmount();
        nonce = ++outboundNonce;
        messageId = messageIdOf(block.chainid, destChainId, address(this), nonce);
    }

    /// @dev Accept `m` or revert: addressed here from the peer, its id derived from its
    ///      nonce, never seen, signed by `threshold` current relayers. Marks it processed.
    function _accept(BridgeMessage calldata m, bytes[] calldata signatures) internal {
        if (m.destChainId != block.chainid) revert WrongDestination(m.destChainId);
        if (m.sourceChainId != peerChainId) revert WrongSource(m.sourceChainId);
        address peer_ = peer;
        if (peer_ == address(0)) revert PeerNotSet();
        // One id per (peer, nonce): relayers cannot deliver one transfer under two ids.
        bytes32 expected = messageIdOf(m.sourceChainId, m.destChainId, peer_, m.nonce);
        if (m.messageId != expected) revert InvalidMessageId(m.messageId, expected);
        if (processed[m.messageId]) revert AlreadyProcessed(m.messageId);
        _checkSignatures(hashMessage(m), signatures);
        processed[m.messageId] = true;
    }

    /// @dev Every signature must recover to a current relayer, signers strictly ascending
    ///      (so none counts twice), and there must be at least `threshold` of them.
    function _checkSignatures(bytes32 digest, bytes[] calldata signatures) private view {
        uint256 count = signatures.length;
        if (count < threshold) revert BelowThreshold(count, threshold);
        uint256 epoch = relayerEpoch;
        address last = address(0);
        for (uint256 i = 0; i < count; ++i) {
            (address signer, ECDSA.RecoverError err,) = ECDSA.tryRecover(digest, signatures[i]);
            if (err != ECDSA.RecoverError.NoError) revert InvalidSignature(i);
            if (signer == last) revert DuplicateSigner(signer);
            if (signer < last) revert SignersNotSorted(i);
            if (_relayerEpochOf[signer] != epoch) revert UnknownSigner(signer);
            last = signer;
        }
    }

    function _setRelayers(address[] memory relayers_, uint256 threshold_) private {
        uint256 count = relayers_.length;
        if (count == 0 || count > MAX_RELAYERS) revert InvalidRelayerCount(count);
        if (threshold_ == 0 || threshold_ > count) revert InvalidThreshold(threshold_, count);
        uint256 epoch = ++relayerEpoch;
        for (uint256 i = 0; i < count; ++i) {
            address relayer = relayers_[i];
            if (relayer == address(0)) revert InvalidRelayer(relayer);
            if (_relayerEpochOf[relayer] == epoch) revert DuplicateRelayer(relayer);
            _relayerEpochOf[relayer] = epoch;
        }
        _relayers = relayers_;
        threshold = threshold_;
        emit RelayerSetChanged(epoch, relayers_, threshold_);
    }
}
