"""Advanced-hunting table schemas: column names, order and types as in Microsoft's advanced
hunting schema reference (defender-xdr/advanced-hunting-*-table.md). ``boolean`` there is
``bool`` here; columns the reference types as ``string`` (AdditionalFields, LoggedOnUsers, ...)
stay strings, so queries need ``parse_json()`` on them exactly as against the real service.
"""

from __future__ import annotations

from .model import Column

_IP = ("InitiatingProcessAccountDomain:string InitiatingProcessAccountName:string "
       "InitiatingProcessAccountSid:string InitiatingProcessAccountUpn:string "
       "InitiatingProcessAccountObjectId:string")
_IP_VERSION = ("InitiatingProcessVersionInfoCompanyName:string InitiatingProcessVersionInfoProductName:string "
               "InitiatingProcessVersionInfoProductVersion:string "
               "InitiatingProcessVersionInfoInternalFileName:string "
               "InitiatingProcessVersionInfoOriginalFileName:string "
               "InitiatingProcessVersionInfoFileDescription:string")
_IP_SESSION = ("InitiatingProcessSessionId:long IsInitiatingProcessRemoteSession:bool "
               "InitiatingProcessRemoteSessionDeviceName:string InitiatingProcessRemoteSessionIP:string")

_SPECS = {
    "DeviceInfo": """Timestamp:datetime DeviceId:string DeviceName:string ClientVersion:string PublicIP:string
        OSArchitecture:string OSPlatform:string OSBuild:long IsAzureADJoined:bool JoinType:string
        AadDeviceId:string LoggedOnUsers:string RegistryDeviceTag:string OSVersion:string MachineGroup:string
        ReportId:long OnboardingStatus:string AdditionalFields:string DeviceCategory:string DeviceType:string
        DeviceSubtype:string Model:string Vendor:string OSDistribution:string OSVersionInfo:string
        MergedDeviceIds:string MergedToDeviceId:string IsInternetFacing:bool SensorHealthState:string
        IsExcluded:bool ExclusionReason:string ExposureLevel:string AssetValue:string DeviceManualTags:string
        DeviceDynamicTags:string ConnectivityType:string HostDeviceId:string""",
    "DeviceProcessEvents": f"""Timestamp:datetime DeviceId:string DeviceName:string ActionType:string
        FileName:string FolderPath:string SHA1:string SHA256:string MD5:string FileSize:long
        ProcessVersionInfoCompanyName:string ProcessVersionInfoProductName:string
        ProcessVersionInfoProductVersion:string ProcessVersionInfoInternalFileName:string
        ProcessVersionInfoOriginalFileName:string ProcessVersionInfoFileDescription:string ProcessId:long
        ProcessCommandLine:string ProcessIntegrityLevel:string ProcessTokenElevation:string
        ProcessCreationTime:datetime AccountDomain:string AccountName:string AccountSid:string
        AccountUpn:string AccountObjectId:string LogonId:long {_IP} InitiatingProcessLogonId:long
        InitiatingProcessIntegrityLevel:string InitiatingProcessTokenElevation:string
        InitiatingProcessSHA1:string InitiatingProcessSHA256:string InitiatingProcessMD5:string
        InitiatingProcessFileName:string InitiatingProcessFileSize:long {_IP_VERSION}
        InitiatingProcessId:long InitiatingProcessCommandLine:string InitiatingProcessCreationTime:datetime
        InitiatingProcessFolderPath:string InitiatingProcessParentId:long InitiatingProcessParentFileName:string
        InitiatingProcessParentCreationTime:datetime InitiatingProcessSignerType:string
        InitiatingProcessSignatureStatus:string ReportId:long AppGuardContainerId:string
        AdditionalFields:string""",
    "DeviceNetworkEvents": f"""Timestamp:datetime DeviceId:string DeviceName:string ActionType:string
        RemoteIP:string RemotePort:int RemoteUrl:string LocalIP:string LocalPort:int Protocol:string
        LocalIPType:string RemoteIPType:string InitiatingProcessSHA1:string InitiatingProcessSHA256:string
        InitiatingProcessMD5:string InitiatingProcessFileName:string InitiatingProcessFileSize:long
        {_IP_VERSION} InitiatingProcessId:long InitiatingProcessCommandLine:string
        InitiatingProcessCreationTime:datetime InitiatingProcessFolderPath:string
        InitiatingProcessParentFileName:string InitiatingProcessParentId:long
        InitiatingProcessParentCreationTime:datetime {_IP} InitiatingProcessIntegrityLevel:string
        InitiatingProcessTokenElevation:string ReportId:long AppGuardContainerId:string AdditionalFields:string
        {_IP_SESSION}""",
    "DeviceLogonEvents": f"""Timestamp:datetime DeviceId:string DeviceName:string ActionType:string
        LogonType:string AccountDomain:string AccountName:string AccountSid:string Protocol:string
        FailureReason:string IsLocalAdmin:bool LogonId:long RemoteDeviceName:string RemoteIP:string
        RemoteIPType:string RemotePort:int {_IP} InitiatingProcessIntegrityLevel:string
        InitiatingProcessTokenElevation:string InitiatingProcessSHA1:string InitiatingProcessSHA256:string
        InitiatingProcessMD5:string InitiatingProcessFileName:string InitiatingProcessFileSize:long
        {_IP_VERSION} InitiatingProcessId:long InitiatingProcessCommandLine:string
        InitiatingProcessCreationTime:datetime InitiatingProcessFolderPath:string InitiatingProcessParentId:long
        InitiatingProcessParentFileName:string InitiatingProcessParentCreationTime:datetime ReportId:long
        AppGuardContainerId:string AdditionalFields:string {_IP_SESSION}""",
    "DeviceFileEvents": f"""Timestamp:datetime DeviceId:string DeviceName:string ActionType:string
        FileName:string FolderPath:string SHA1:string SHA256:string MD5:string FileOriginUrl:string
        FileOriginReferrerUrl:string FileOriginIP:string PreviousFolderPath:string PreviousFileName:string
        FileSize:long {_IP} InitiatingProcessMD5:string InitiatingProcessSHA1:string
        InitiatingProcessSHA256:string InitiatingProcessFolderPath:string InitiatingProcessFileName:string
        InitiatingProcessFileSize:long {_IP_VERSION} InitiatingProcessId:long
        InitiatingProcessCommandLine:string InitiatingProcessCreationTime:datetime
        InitiatingProcessIntegrityLevel:string InitiatingProcessTokenElevation:string
        InitiatingProcessParentId:long InitiatingProcessParentFileName:string
        InitiatingProcessParentCreationTime:datetime RequestProtocol:string RequestSourceIP:string
        RequestSourcePort:int RequestAccountName:string RequestAccountDomain:string RequestAccountSid:string
        ShareName:string SensitivityLabel:string SensitivitySubLabel:string IsAzureInfoProtectionApplied:bool
        ReportId:long AppGuardContainerId:string AdditionalFields:string {_IP_SESSION}""",
    "AlertInfo": """Timestamp:datetime AlertId:string Title:string Category:string Severity:string
        ServiceSource:string DetectionSource:string AttackTechniques:string""",
    "AlertEvidence": """Timestamp:datetime AlertId:string Title:string Categories:string AttackTechniques:string
        ServiceSource:string DetectionSource:string EntityType:string EvidenceRole:string
        EvidenceDirection:string FileName:string FolderPath:string SHA1:string SHA256:string FileSize:long
        ThreatFamily:string RemoteIP:string RemoteUrl:string AccountName:string AccountDomain:string
        AccountSid:string AccountObjectId:string AccountUpn:string DeviceId:string DeviceName:string
        LocalIP:string NetworkMessageId:string EmailSubject:string Application:string ApplicationId:int
        OAuthApplicationId:string ProcessCommandLine:string RegistryKey:string RegistryValueName:string
        RegistryValueData:string AdditionalFields:string Severity:string CloudResource:string
        CloudPlatform:string ResourceType:string ResourceID:string SubscriptionId:string""",
    "EmailEvents": """Timestamp:datetime NetworkMessageId:string InternetMessageId:string
        SenderMailFromAddress:string SenderFromAddress:string SenderDisplayName:string SenderObjectId:string
        SenderMailFromDomain:string SenderFromDomain:string SenderIPv4:string SenderIPv6:string
        RecipientEmailAddress:string RecipientObjectId:string Subject:string EmailClusterId:long
        EmailDirection:string DeliveryAction:string DeliveryLocation:string ThreatTypes:string
        ThreatNames:string DetectionMethods:string ConfidenceLevel:string BulkComplaintLevel:int
        EmailAction:string EmailActionPolicy:string EmailActionPolicyGuid:string AuthenticationDetails:string
        AttachmentCount:int UrlCount:int EmailLanguage:string Connectors:string OrgLevelAction:string
        OrgLevelPolicy:string UserLevelAction:string UserLevelPolicy:string ReportId:string
        AdditionalFields:string LatestDeliveryLocation:string LatestDeliveryAction:string""",
}

#: table name → its columns, in the reference's order.
SCHEMAS: dict[str, list[Column]] = {
    table: [Column(*item.split(":")) for item in spec.split()] for table, spec in _SPECS.items()
}
#: The MDE advanced-queries API (/api/advancedqueries/run) covers only the Device* tables.
MDE_TABLES = frozenset(t for t in SCHEMAS if t.startswith("Device"))
