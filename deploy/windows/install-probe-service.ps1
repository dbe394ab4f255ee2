<#
.SYNOPSIS
  Installs the linkmesh probe as a Windows service beside SQL Server.

.DESCRIPTION
  Copies nothing: run it from the folder that holds linkmesh.exe, mesh.key, ca.crt
  and the probe's certificate <Name>.crt and key <Name>.key (from
  `linkmesh.exe certs probe --name <Name> --site <Site>`). Unacked results are spooled to
  spool\ in that folder, so a restart loses none. -Insecure runs plain gRPC
  without certificates (a trusted lab network only).
  The service runs as LocalSystem (change it with -Credential if your policy asks),
  starts automatically, restarts on failure, and logs to linkmesh-probe.log beside
  the executable. It also opens the responder port (5023) and gossip (7946) inbound
  in Windows Firewall for the given remote prefixes. It restricts the key files
  (mesh.key, <Name>.key) to SYSTEM, Administrators (full control) and the service
  NT SERVICE\linkmesh-probe (read): nothing inherited from the folder.

.EXAMPLE
  .\install-probe-service.ps1 -Name sql01 -Coordinator coord.example.net:7022 -RemotePrefix 10.20.0.0/16
#>
param(
  [Parameter(Mandatory)] [string] $Name,
  [Parameter(Mandatory)] [string] $Coordinator,
  [Parameter(Mandatory)] [string] $RemotePrefix,
  [string] $Site = "sql",
  [string] $Dir = $PSScriptRoot,
  [switch] $Insecure
)
$ErrorActionPreference = "Stop"
$exe = Join-Path $Dir "linkmesh.exe"
$key = Join-Path $Dir "mesh.key"
$log = Join-Path $Dir "linkmesh-probe.log"
$cache = Join-Path $Dir "plan.pb"
if (-not (Test-Path $exe)) { throw "linkmesh.exe not found in $Dir" }
if (-not (Test-Path $key)) { throw "mesh.key not found in $Dir (the same key file as on the coordinator)" }

$spool = Join-Path $Dir "spool"
if ($Insecure) {
  $tls = "--insecure"
} else {
  $ca = Join-Path $Dir "ca.crt"
  $crt = Join-Path $Dir "$Name.crt"
  $pem = Join-Path $Dir "$Name.key"
  foreach ($f in @($ca, $crt, $pem)) {
    if (-not (Test-Path $f)) { throw "$f not found (issue it with: linkmesh.exe certs probe --name $Name --site $Site; see README), or pass -Insecure" }
  }
  $tls = "--tls-ca `"$ca`" --tls-cert `"$crt`" --tls-key `"$pem`""
}

$args = "probe --site $Site --name $Name --coordinator $Coordinator --mesh-key-file `"$key`" --plan-cache `"$cache`" --spool-dir `"$spool`" --log-file `"$log`" $tls"
New-Service -Name "linkmesh-probe" -DisplayName "linkmesh probe ($Name)" `
  -Description "Measures the MI link's network paths and reports to the linkmesh coordinator." `
  -BinaryPathName "`"$exe`" $args" -StartupType Automatic | Out-Null
# Key files: SYSTEM and Administrators full control, the service read, nobody else.
$keys = @($key); if (-not $Insecure) { $keys += $pem }
$svcSid = (New-Object Security.Principal.NTAccount "NT SERVICE\linkmesh-probe").Translate([Security.Principal.SecurityIdentifier]).Value
foreach ($f in $keys) {
  icacls $f /inheritance:r /grant:r "*S-1-5-18:(F)" "*S-1-5-32-544:(F)" "*${svcSid}:(R)" | Out-Null
  if ($LASTEXITCODE -ne 0) { throw "icacls $f failed (exit $LASTEXITCODE)" }
  foreach ($r in (Get-Acl $f).GetAccessRules($true, $false, [Security.Principal.SecurityIdentifier])) {
    $sid = $r.IdentityReference.Value
    if (@("S-1-5-18", "S-1-5-32-544", $svcSid) -notcontains $sid) { icacls $f /remove "*$sid" | Out-Null }
  }
}
sc.exe failure linkmesh-probe reset= 86400 actions= restart/5000/restart/5000/restart/60000 | Out-Null

New-NetFirewallRule -DisplayName "linkmesh responder 5023 in" -Direction Inbound -Protocol TCP -LocalPort 5023 -RemoteAddress $RemotePrefix -Action Allow | Out-Null
New-NetFirewallRule -DisplayName "linkmesh gossip 7946 in (TCP)" -Direction Inbound -Protocol TCP -LocalPort 7946 -RemoteAddress $RemotePrefix -Action Allow | Out-Null
New-NetFirewallRule -DisplayName "linkmesh gossip 7946 in (UDP)" -Direction Inbound -Protocol UDP -LocalPort 7946 -RemoteAddress $RemotePrefix -Action Allow | Out-Null

Start-Service linkmesh-probe
Get-Service linkmesh-probe
