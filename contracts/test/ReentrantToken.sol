// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

/// @title Test-only hostile token
/// @notice An ERC-20 whose transfers call back into a target with prepared calldata, to
///         prove the marketplace, escrow and staking guards stop re-entry. Never deployed
///         outside tests.
contract ReentrantToken is ERC20 {
    address public target;
    bytes public payload;
    bool private _armed;

    constructor() ERC20("Reentrant", "RE") {}

    /// @notice Mint freely (test token).
    function mint(address to, uint256 amount) external {
        _mint(to, amount);
    }

    /// @notice Arm a single callback into `target_` with `payload_` on the next transfer.
    function arm(address target_, bytes calldata payload_) external {
        target = target_;
        payload = payload_;
        _armed = true;
    }

    function _update(address from, address to, uint256 value) internal override {
        super._update(from, to, value);
        if (_armed) {
            _armed = false;
            (bool ok, bytes memory ret) = target.call(payload);
            if (!ok) {
                // Bubble the callee's revert so the test sees the guard's own error.
                assembly {
                    revert(add(ret, 32), mload(ret))
                }
            }
        }
    }
}
