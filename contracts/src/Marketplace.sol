// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable, Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Multicall} from "@openzeppelin/contracts/utils/Multicall.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {MAX_CID_BYTES} from "./Limits.sol";
import {Permits} from "./Permits.sol";

/// @title Datacoin marketplace
/// @notice Providers list datasets (metadata on IPFS) priced in DATACOIN; buyers purchase
///         perpetual or time-bounded access; verified buyers rate once.
/// @dev Every state change emits an event carrying the full new values, so an indexer can
///      build its read models from logs alone, without calling the chain back.
///      Multicall lets a provider list (or reprice) many datasets in one transaction;
///      `purchase` stays guarded because nonReentrant state persists across the batch.
contract Marketplace is Ownable2Step, ReentrancyGuard, Multicall {
    using SafeERC20 for IERC20;

    /// @notice Upper bound on the protocol fee: 10%.
    uint16 public constant MAX_FEE_BPS = 1_000;
    /// @notice Longest accepted metadata CID, in bytes.
    uint256 public constant MAX_CID_LENGTH = MAX_CID_BYTES;
    /// @notice Longest accepted category label, in bytes.
    uint256 public constant MAX_CATEGORY_LENGTH = 32;
    /// @dev Stored access expiry for a perpetual purchase.
    uint64 private constant PERPETUAL = type(uint64).max;

    struct Dataset {
        address provider;
        uint64 accessDuration; // seconds of access per purchase; 0 = perpetual
        bool active;
        uint32 ratingCount;
        uint64 ratingSum;
        uint256 price; // DATACOIN wei
        bytes32 contentHash; // sha256 of the stored (possibly encrypted) dataset bytes
        string metadataCid; // IPFS CID of the metadata document
        string category;
    }

    /// @notice The payment token (DATACOIN).
    IERC20 public immutable token;
    /// @notice Receives the protocol fee.
    address public treasury;
    /// @notice Protocol fee in basis points of the price.
    uint16 public feeBps;
    /// @notice Number of datasets ever listed; ids run from 1 to this value.
    uint256 public datasetCount;

    mapping(uint256 datasetId => Dataset) private _datasets;
    mapping(uint256 datasetId => mapping(address buyer => uint64 expiresAt)) private _access;
    mapping(uint256 datasetId => mapping(address buyer => bool)) public hasPurchased;
    mapping(uint256 datasetId => mapping(address buyer => bool)) public hasRated;

    /// @notice A dataset was listed. `accessDuration` 0 means perpetual access.
    event DatasetListed(
        uint256 indexed datasetId,
        address indexed provider,
        uint256 price,
        uint64 accessDuration,
        string metadataCid,
        bytes32 contentHash,
        string category
    );
    /// @notice The provider changed a dataset's price.
    event PriceChanged(uint256 indexed datasetId, uint256 oldPrice, uint256 newPrice);
    /// @notice The provider delisted a dataset; existing buyers keep their access.
    event DatasetDelisted(uint256 indexed datasetId, address indexed provider);
    /// @notice `buyer` paid `price` (of which `fee` went to the treasury). `expiresAt` is the
    ///         end of the buyer's access, or 0 for perpetual access.
    event Purchased(
        uint256 indexed datasetId,
        address indexed buyer,
        address indexed provider,
        uint256 price,
        uint256 fee,
        uint64 expiresAt
    );
    /// @notice A verified buyer rated a dataset (1-5).
    event Rated(uint256 indexed datasetId, address indexed rater, uint8 score);
    /// @notice The protocol fee changed.
    event FeeChanged(uint16 oldFeeBps, uint16 newFeeBps);
    /// @notice The fee recipient changed.
    event TreasuryChanged(address indexed oldTreasury, address indexed newTreasury);

    error UnknownDataset(uint256 datasetId);
    error DatasetNotActive(uint256 datasetId);
    error NotProvider(uint256 datasetId, address caller);
    error PriceAboveMax(uint256 price, uint256 maxPrice);
    error AlreadyOwned(uint256 datasetId, address buyer);
    error NotPurchaser(uint256 datasetId, address caller);
    error AlreadyRated(uint256 datasetId, address rater);
    error InvalidScore(uint8 score);
    error InvalidCid();
    error InvalidCategory();
    error FeeTooHigh(uint16 feeBps);
    error ZeroAddress();

    /// @param token_ DATACOIN.
    /// @param owner_ May change the fee and treasury.
    /// @param treasury_ Receives the protocol fee.
    /// @param feeBps_ Protocol fee in basis points (at most MAX_FEE_BPS).
    constructor(IERC20 token_, address owner_, address treasury_, uint16 feeBps_) Ownable(owner_) {
        if (address(token_) == address(0) || treasury_ == address(0)) revert ZeroAddress();
        if (feeBps_ > MAX_FEE_BPS) revert FeeTooHigh(feeBps_);
        token = token_;
        treasury = treasury_;
        feeBps = feeBps_;
    }

    /// @notice List a dataset for sale.
    /// @param metadataCid IPFS CID of the dataset's metadata document.
    /// @param contentHash sha256 of the stored dataset bytes.
    /// @param category Short label (at most 32 bytes), e.g. "tabular".
    /// @param price Price in DATACOIN wei (0 = free).
    /// @param accessDuration Seconds of access per purchase; 0 = perpetual.
    /// @return datasetId The new dataset's id.
    function listDataset(
        string calldata metadataCid,
        bytes32 contentHash,
        string calldata category,
        uint256 price,
        uint64 accessDuration
    ) external returns (uint256 datasetId) {
        uint256 cidLength = bytes(metadataCid).length;
        if (cidLength == 0 || cidLength > MAX_CID_LENGTH) revert InvalidCid();
        uint256 categoryLength = bytes(category).length;
        if (categoryLength == 0 || categoryLength > MAX_CATEGORY_LENGTH) revert InvalidCategory();
        datasetId = ++datasetCount;
        Dataset storage d = _datasets[datasetId];
        d.provider = msg.sender;
        d.accessDuration = accessDuration;
        d.active = true;
        d.price = price;
        d.contentHash = contentHash;
        d.metadataCid = metadataCid;
        d.category = category;
        emit DatasetListed(
            datasetId, msg.sender, price, accessDuration, metadataCid, contentHash, category
        );
    }

    /// @notice Change the price of one of your active datasets.
    /// @param datasetId The dataset.
    /// @param newPrice New price in DATACOIN wei.
    function setPrice(uint256 datasetId, uint256 newPrice) external {
        Dataset storage d = _activeDatasetOfCaller(datasetId);
        uint256 oldPrice = d.price;
        d.price = newPrice;
        emit PriceChanged(datasetId, oldPrice, newPrice);
    }

    /// @notice Stop selling one of your datasets. Buyers keep the access they paid for.
    /// @param datasetId The dataset.
    function delist(uint256 datasetId) external {
        Dataset storage d = _activeDatasetOfCaller(datasetId);
        d.active = false;
        emit DatasetDelisted(datasetId, msg.sender);
    }

    /// @notice Buy access to a dataset. Pulls `price` DATACOIN from the caller (approve
    ///         first, or use `purchaseWithPermit`): the provider receives price minus the
    ///         protocol fee.
    /// @dev A subscription bought while still active extends from its current expiry.
    ///      `maxPrice` protects the buyer against a price change front-running the purchase.
    /// @param datasetId The dataset.
    /// @param maxPrice The most the caller agrees to pay.
    /// @return expiresAt End of access, or 0 for perpetual access.
    function purchase(uint256 datasetId, uint256 maxPrice)
        external
        nonReentrant
        returns (uint64 expiresAt)
    {
        return _purchase(datasetId, maxPrice);
    }

    /// @notice `purchase` in one transaction, without a prior approve: the caller signs an
    ///         EIP-2612 permit for `maxPrice` to this contract.
    /// @dev A permit someone else submitted first does not fail the call (see Permits).
    /// @param datasetId The dataset.
    /// @param maxPrice The most the caller agrees to pay, and the permit's value.
    /// @param deadline The permit's deadline.
    /// @param v Permit signature.
    /// @param r Permit signature.
    /// @param s Permit signature.
    /// @return expiresAt End of access, or 0 for perpetual access.
    function purchaseWithPermit(
        uint256 datasetId,
        uint256 maxPrice,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external nonReentrant returns (uint64 expiresAt) {
        Permits.permitOrAllowance(token, msg.sender, maxPrice, deadline, v, r, s);
        return _purchase(datasetId, maxPrice);
    }

    function _purchase(uint256 datasetId, uint256 maxPrice) private returns (uint64 expiresAt) {
        Dataset storage d = _existing(datasetId);
        if (!d.active) revert DatasetNotActive(datasetId);
        uint256 price = d.price;
        if (price > maxPrice) revert PriceAboveMax(price, maxPrice);
        uint64 current = _access[datasetId][msg.sender];
        uint64 stored;
        if (d.accessDuration == 0) {
            if (current == PERPETUAL) revert AlreadyOwned(datasetId, msg.sender);
            stored = PERPETUAL;
        } else {
            uint64 start = current > block.timestamp ? current : uint64(block.timestamp);
            stored = start + d.accessDuration;
            expiresAt = stored;
        }
        _access[datasetId][msg.sender] = stored;
        hasPurchased[datasetId][msg.sender] = true;
        uint256 fee = (price * feeBps) / 10_000;
        address provider = d.provider;
        emit Purchased(datasetId, msg.sender, provider, price, fee, expiresAt);
        // Effects are done; interactions last (and the guard blocks re-entry regardless).
        token.safeTransferFrom(msg.sender, provider, price - fee);
        if (fee > 0) token.safeTransferFrom(msg.sender, treasury, fee);
    }

    /// @notice Rate a dataset you purchased, once, with a score from 1 to 5.
    /// @param datasetId The dataset.
    /// @param score 1 (worst) to 5 (best).
    function rate(uint256 datasetId, uint8 score) external {
        Dataset storage d = _existing(datasetId);
        if (!hasPurchased[datasetId][msg.sender]) revert NotPurchaser(datasetId, msg.sender);
        if (hasRated[datasetId][msg.sender]) revert AlreadyRated(datasetId, msg.sender);
        if (score < 1 || score > 5) revert InvalidScore(score);
        hasRated[datasetId][msg.sender] = true;
        d.ratingCount += 1;
        d.ratingSum += score;
        emit Rated(datasetId, msg.sender, score);
    }

    /// @notice Change the protocol fee (owner only).
    /// @param newFeeBps New fee in basis points, at most MAX_FEE_BPS.
    function setFee(uint16 newFeeBps) external onlyOwner {
        if (newFeeBps > MAX_FEE_BPS) revert FeeTooHigh(newFeeBps);
        emit FeeChanged(feeBps, newFeeBps);
        feeBps = newFeeBps;
    }

    /// @notice Change the fee recipient (owner only).
    /// @param newTreasury New recipient.
    function setTreasury(address newTreasury) external onlyOwner {
        if (newTreasury == address(0)) revert ZeroAddress();
        emit TreasuryChanged(treasury, newTreasury);
        treasury = newTreasury;
    }

    /// @notice A dataset's stored record.
    /// @param datasetId The dataset.
    /// @return The dataset (reverts for an unknown id).
    function getDataset(uint256 datasetId) external view returns (Dataset memory) {
        return _existing(datasetId);
    }

    /// @notice The provider of a dataset (reverts for an unknown id).
    /// @param datasetId The dataset.
    /// @return The provider's address.
    function providerOf(uint256 datasetId) external view returns (address) {
        return _existing(datasetId).provider;
    }

    /// @notice Whether `account` may use the dataset now: its provider, a perpetual buyer,
    ///         or a subscriber whose access has not expired.
    /// @param datasetId The dataset.
    /// @param account The account.
    /// @return True when access is current.
    function hasAccess(uint256 datasetId, address account) external view returns (bool) {
        Dataset storage d = _existing(datasetId);
        return account == d.provider || _access[datasetId][account] > block.timestamp;
    }

    /// @notice End of `account`'s access: 0 if none, type(uint64).max if perpetual.
    /// @param datasetId The dataset.
    /// @param account The account.
    /// @return The stored expiry timestamp.
    function accessExpiry(uint256 datasetId, address account) external view returns (uint64) {
        return _access[datasetId][account];
    }

    function _existing(uint256 datasetId) private view returns (Dataset storage d) {
        d = _datasets[datasetId];
        if (d.provider == address(0)) revert UnknownDataset(datasetId);
    }

    function _activeDatasetOfCaller(uint256 datasetId) private view returns (Dataset storage d) {
        d = _existing(datasetId);
        if (d.provider != msg.sender) revert NotProvider(datasetId, msg.sender);
        if (!d.active) revert DatasetNotActive(datasetId);
    }
}
