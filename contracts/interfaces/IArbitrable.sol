// SPDX-License-Identifier: MIT
// IArbitrable.sol - ERC-792-style arbitrable side: the contract whose disputes an arbitrator rules.
pragma solidity 0.8.28;

/// @title ERC-792-style arbitrable contract
/// @notice An arbitrable contract raises disputes and accepts rulings from its arbitrator.
///         Ruling 0 is reserved by ERC-792 for "refused to arbitrate"; the meaning of the other
///         rulings is defined by the arbitrable contract.
interface IArbitrable {
    /// @notice Emitted when the arbitrator gives a final ruling.
    /// @param arbitrator the address that ruled
    /// @param disputeId the dispute, numbered by the arbitrable contract
    /// @param ruling the ruling given
    event Ruling(address indexed arbitrator, uint256 indexed disputeId, uint256 ruling);

    /// @notice Gives the final ruling of a dispute. Only the arbitrator may call it.
    /// @param disputeId the dispute
    /// @param ruling the ruling (its meaning is defined by the arbitrable contract)
    function rule(uint256 disputeId, uint256 ruling) external;
}
