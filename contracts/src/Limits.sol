// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @dev Longest accepted IPFS CID, in bytes, for every CID the platform stores or emits
///      (dataset metadata, training specs and results, profiles): one bound, so a CID valid
///      in one contract is valid in all.
uint256 constant MAX_CID_BYTES = 128;
