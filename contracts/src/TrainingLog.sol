// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Ownable, Ownable2Step} from "@openzeppelin/contracts/access/Ownable2Step.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";
import {MAX_CID_BYTES} from "./Limits.sol";
import {Marketplace} from "./Marketplace.sol";
import {Permits} from "./Permits.sol";
import {Staking} from "./Staking.sol";

/// @title Training log and compute escrow
/// @notice A buyer with access to a dataset escrows DATACOIN for a training job; a
///         registered, staked worker trains it (compute-to-data) and logs the model and
///         metrics on chain, which releases the payment (a share goes to the data provider).
///         After the deadline an unlogged job can be refunded to its requester.
/// @dev Workers are registered by the owner because they see decrypted datasets; the stake
///      requirement is checked at logging time, against Staking's active stake.
contract TrainingLog is Ownable2Step, ReentrancyGuard {
    using SafeERC20 for IERC20;

    enum JobStatus {
        None,
        Requested,
        Logged,
        Refunded
    }

    struct Job {
        address requester;
        uint64 deadline;
        JobStatus status;
        uint256 datasetId;
        uint256 payment;
        string specCid;
    }

    /// @notice Largest provider share: 50%.
    uint16 public constant MAX_PROVIDER_SHARE_BPS = 5_000;
    /// @notice Longest accepted CID, in bytes.
    uint256 public constant MAX_CID_LENGTH = MAX_CID_BYTES;

    /// @notice The payment token (DATACOIN).
    IERC20 public immutable token;
    /// @notice Source of dataset access and providers.
    Marketplace public immutable marketplace;
    /// @notice Source of worker stakes.
    Staking public immutable staking;
    /// @notice Share of each payment paid to the dataset's provider, in basis points.
    uint16 public immutable providerShareBps;
    /// @notice Seconds a worker has to log a job before the requester may reclaim it.
    uint64 public immutable jobTimeout;
    /// @notice Minimum active stake for a worker to log a job.
    uint256 public minWorkerStake;
    /// @notice Number of jobs ever requested; ids run from 1 to this value.
    uint256 public jobCount;

    mapping(uint256 jobId => Job) private _jobs;
    /// @notice Whether an address is a registered worker.
    mapping(address worker => bool) public isWorker;

    /// @notice A training job was requested and `payment` escrowed until `deadline`.
    event TrainingRequested(
        uint256 indexed jobId,
        uint256 indexed datasetId,
        address indexed requester,
        string specCid,
        uint256 payment,
        uint64 deadline
    );
    /// @notice `worker` logged a job's result; `workerAmount` + `providerAmount` = payment.
    event TrainingLogged(
        uint256 indexed jobId,
        uint256 indexed datasetId,
        address indexed worker,
        string specCid,
        string modelCid,
        bytes32 modelHash,
        string metricsCid,
        bytes32 metricsHash,
        uint256 workerAmount,
        uint256 providerAmount
    );
    /// @notice An unlogged job's escrow went back to its requester after the deadline.
    event TrainingRefunded(uint256 indexed jobId, address indexed requester, uint256 amount);
    /// @notice The owner registered a worker.
    event WorkerRegistered(address indexed worker);
    /// @notice The owner removed a worker.
    event WorkerRemoved(address indexed worker);
    /// @notice The owner changed the minimum worker stake.
    event MinWorkerStakeChanged(uint256 oldMinimum, uint256 newMinimum);

    error NoDatasetAccess(uint256 datasetId, address requester);
    error ZeroPayment();
    error InvalidCid();
    error UnknownJob(uint256 jobId);
    error JobNotOpen(uint256 jobId, JobStatus status);
    error NotWorker(address caller);
    error InsufficientWorkerStake(address worker, uint256 staked, uint256 required);
    error DeadlinePassed(uint256 jobId, uint64 deadline);
    error DeadlineNotReached(uint256 jobId, uint64 deadline);
    error NotRequester(uint256 jobId, address caller);
    error ShareTooHigh(uint16 shareBps);

    /// @param token_ DATACOIN.
    /// @param marketplace_ The marketplace whose datasets are trained on.
    /// @param staking_ The staking contract holding worker stakes.
    /// @param owner_ Registers workers and sets the minimum stake.
    /// @param providerShareBps_ Provider share of each payment (at most 50%).
    /// @param jobTimeout_ Seconds from request to the refund deadline.
    /// @param minWorkerStake_ Minimum active stake to log a job.
    constructor(
        IERC20 token_,
        Marketplace marketplace_,
        Staking staking_,
        address owner_,
        uint16 providerShareBps_,
        uint64 jobTimeout_,
        uint256 minWorkerStake_
    ) Ownable(owner_) {
        if (providerShareBps_ > MAX_PROVIDER_SHARE_BPS) revert ShareTooHigh(providerShareBps_);
        token = token_;
        marketplace = marketplace_;
        staking = staking_;
        providerShareBps = providerShareBps_;
        jobTimeout = jobTimeout_;
        minWorkerStake = minWorkerStake_;
    }

    /// @notice Request a training job on a dataset you have access to, escrowing `payment`
    ///         DATACOIN (approve first, or use `requestTrainingWithPermit`).
    /// @param datasetId The dataset to train on.
    /// @param specCid IPFS CID of the training spec (JSON).
    /// @param payment Escrowed amount, paid out when the job is logged.
    /// @return jobId The new job's id.
    function requestTraining(uint256 datasetId, string calldata specCid, uint256 payment)
        external
        nonReentrant
        returns (uint256 jobId)
    {
        return _requestTraining(datasetId, specCid, payment);
    }

    /// @notice `requestTraining` in one transaction, without a prior approve: the caller
    ///         signs an EIP-2612 permit for `payment` to this contract.
    /// @dev A permit someone else submitted first does not fail the call (see Permits).
    /// @param datasetId The dataset to train on.
    /// @param specCid IPFS CID of the training spec (JSON).
    /// @param payment Escrowed amount, and the permit's value.
    /// @param deadline The permit's deadline.
    /// @param v Permit signature.
    /// @param r Permit signature.
    /// @param s Permit signature.
    /// @return jobId The new job's id.
    function requestTrainingWithPermit(
        uint256 datasetId,
        string calldata specCid,
        uint256 payment,
        uint256 deadline,
        uint8 v,
        bytes32 r,
        bytes32 s
    ) external nonReentrant returns (uint256 jobId) {
        Permits.permitOrAllowance(token, msg.sender, payment, deadline, v, r, s);
        return _requestTraining(datasetId, specCid, payment);
    }

    function _requestTraining(uint256 datasetId, string calldata specCid, uint256 payment)
        private
        returns (uint256 jobId)
    {
        if (!marketplace.hasAccess(datasetId, msg.sender)) {
            revert NoDatasetAccess(datasetId, msg.sender);
        }
        if (payment == 0) revert ZeroPayment();
        uint256 cidLength = bytes(specCid).length;
        if (cidLength == 0 || cidLength > MAX_CID_LENGTH) revert InvalidCid();
        jobId = ++jobCount;
        uint64 deadline = uint64(block.timestamp) + jobTimeout;
        _jobs[jobId] = Job({
            requester: msg.sender,
            deadline: deadline,
            status: JobStatus.Requested,
            datasetId: datasetId,
            payment: payment,
            specCid: specCid
        });
        emit TrainingRequested(jobId, datasetId, msg.sender, specCid, payment, deadline);
        token.safeTransferFrom(msg.sender, address(this), payment);
    }

    /// @notice Log a job's trained model and metrics (registered, staked workers only),
    ///         releasing the escrow to the worker and the provider. A job is logged once.
    /// @param jobId The job.
    /// @param modelCid IPFS CID of the model file.
    /// @param modelHash sha256 of the model file.
    /// @param metricsCid IPFS CID of the model card (metrics and provenance).
    /// @param metricsHash sha256 of the canonical metrics document.
    function logTraining(
        uint256 jobId,
        string calldata modelCid,
        bytes32 modelHash,
        string calldata metricsCid,
        bytes32 metricsHash
    ) external nonReentrant {
        if (!isWorker[msg.sender]) revert NotWorker(msg.sender);
        uint256 staked = staking.stakeOf(msg.sender);
        if (staked < minWorkerStake) {
            revert InsufficientWorkerStake(msg.sender, staked, minWorkerStake);
        }
        Job storage job = _openJob(jobId);
        if (block.timestamp > job.deadline) revert DeadlinePassed(jobId, job.deadline);
        _checkCid(modelCid);
        _checkCid(metricsCid);
        job.status = JobStatus.Logged;
        uint256 payment = job.payment;
        uint256 providerAmount = (payment * providerShareBps) / 10_000;
        uint256 workerAmount = payment - providerAmount;
        uint256 datasetId = job.datasetId;
        emit TrainingLogged(
            jobId,
            datasetId,
            msg.sender,
            job.specCid,
            modelCid,
            modelHash,
            metricsCid,
            metricsHash,
            workerAmount,
            providerAmount
        );
        token.safeTransfer(msg.sender, workerAmount);
        if (providerAmount > 0) {
            token.safeTransfer(marketplace.providerOf(datasetId), providerAmount);
        }
    }

    /// @notice Reclaim the escrow of your job that no worker logged before its deadline.
    /// @param jobId The job.
    function refund(uint256 jobId) external nonReentrant {
        Job storage job = _openJob(jobId);
        if (job.requester != msg.sender) revert NotRequester(jobId, msg.sender);
        if (block.timestamp <= job.deadline) revert DeadlineNotReached(jobId, job.deadline);
        job.status = JobStatus.Refunded;
        uint256 amount = job.payment;
        emit TrainingRefunded(jobId, msg.sender, amount);
        token.safeTransfer(msg.sender, amount);
    }

    /// @notice Register a worker (owner only).
    /// @param worker The worker's address.
    function registerWorker(address worker) external onlyOwner {
        isWorker[worker] = true;
        emit WorkerRegistered(worker);
    }

    /// @notice Remove a worker (owner only).
    /// @param worker The worker's address.
    function removeWorker(address worker) external onlyOwner {
        isWorker[worker] = false;
        emit WorkerRemoved(worker);
    }

    /// @notice Change the minimum worker stake (owner only).
    /// @param newMinimum New minimum, in wei.
    function setMinWorkerStake(uint256 newMinimum) external onlyOwner {
        emit MinWorkerStakeChanged(minWorkerStake, newMinimum);
        minWorkerStake = newMinimum;
    }

    /// @notice A job's stored record (reverts for an unknown id).
    /// @param jobId The job.
    /// @return The job.
    function getJob(uint256 jobId) external view returns (Job memory) {
        Job storage job = _jobs[jobId];
        if (job.status == JobStatus.None) revert UnknownJob(jobId);
        return job;
    }

    function _openJob(uint256 jobId) private view returns (Job storage job) {
        job = _jobs[jobId];
        if (job.status == JobStatus.None) revert UnknownJob(jobId);
        if (job.status != JobStatus.Requested) revert JobNotOpen(jobId, job.status);
    }

    function _checkCid(string calldata cid) private pure {
        uint256 length = bytes(cid).length;
        if (length == 0 || length > MAX_CID_LENGTH) revert InvalidCid();
    }
}
