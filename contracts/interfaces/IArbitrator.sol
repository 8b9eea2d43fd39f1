// SPDX-License-Identifier: MIT
// IArbitrator.sol - ERC-792-style arbitrator side, for a DAO or juror contract taking the role later.
pragma solidity 0.8.28;

import {IArbitrable} from "./IArbitrable.sol";

/// @title ERC-792-style arbitrator
/// @notice What a contract arbitrator implements. The Marketplace numbers its own disputes and
///         announces them with DisputeOpened; when the arbitrator address is a contract that
///         implements this interface (checked with ERC-165), the Marketplace also calls
///         notifyDispute so the arbitrator can queue the case. Either way the final word comes back
///         through IArbitrable.rule(disputeId, ruling).
interface IArbitrator {
    /// @notice Emitted by the arbitrator when it accepts a dispute from an arbitrable contract.
    event DisputeCreation(uint256 indexed disputeId, IArbitrable indexed arbitrable);

    /// @notice Tells the arbitrator about a new dispute of the calling arbitrable contract.
    /// @param disputeId the dispute id as numbered by the caller
    /// @param choices the number of rulings available (excluding 0, "refused to arbitrate")
    /// @param extraData arbitrable-specific data (the Marketplace passes abi.encode(purchaseId))
    function notifyDispute(uint256 disputeId, uint256 choices, bytes calldata extraData) external;
}
