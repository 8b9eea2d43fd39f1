// SPDX-License-Identifier: MIT
// Box.sol - a tiny contract for the eth integration test against anvil.
pragma solidity 0.8.28;

contract Box {
    uint256 public value;
    string public note;

    error Custom(uint256 code, string why);
    event Set(address indexed who, uint256 indexed value, string note);

    function set(uint256 v, string calldata n) external {
        require(v < 1000, "value too big");
        value = v;
        note = n;
        emit Set(msg.sender, v, n);
    }

    function get() external view returns (uint256, string memory) {
        return (value, note);
    }

    function custom() external pure {
        revert Custom(7, "seven");
    }

    function panic(uint256 i) external pure returns (uint256) {
        uint256[] memory a = new uint256[](1);
        return a[i];
    }
}
