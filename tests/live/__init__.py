"""Tests of statetrail.live: following a trail live."""
