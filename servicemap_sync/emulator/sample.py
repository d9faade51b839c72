"""The bundled sample estate (``samples/estate``): a small Contoso data centre.

Web, application and database tiers on Windows and Linux, a domain controller every Windows
server uses, a Prometheus server polling everyone, a build server outside the Servers Group,
browsers in client groups, and the awkward cases a sync must survive: failed and mixed
connections, a self-link, a loopback connection, a discovered host called ``???``, a process
role outside the spec's enum, upper-case GUIDs, and resource ids in all three forms.

Two machine groups: "Contoso Web Shop" (web01, web02, app01, sql01) and "Orders API" (web02,
app02, pg01; web02 is in both, the group's id in the legacy form, no member hints). A second
workspace, ``law-contoso-dev`` in its own subscription and resource group, holds the build
server's second registration (the same FQDN, ``build01.contoso.com``, as in the first workspace:
an ambiguous name) and two test servers, with one machine group of its own.

The committed files are generated from this module::

    python -m servicemap_sync.emulator.sample samples/estate
"""

from __future__ import annotations

import argparse
import logging
import uuid
from pathlib import Path

from .estate import Clients, Estate, Host, Proc
from .scenario import Scenario, write_scenario
from .shapes import WorkspaceRef, machine_group_resource
from .synthetic import estate_scenario

logger = logging.getLogger(__name__)

DOMAIN = "contoso.com"
WINDOWS_2022 = "Microsoft Windows Server 2022 Datacenter"
WINDOWS_2019 = "Microsoft Windows Server 2019 Standard"
UBUNTU = "Ubuntu 22.04.4 LTS"
RHEL = "Red Hat Enterprise Linux 9.3 (Plow)"

#: As a user would type them: FQDNs, odd case, a short computer name, a display name.
SERVERS_GROUP = (
    "web01.contoso.com", "WEB02.Contoso.com", "app01", "app02.contoso.com", "sql01.contoso.com",
    "pg01.contoso.com", "dc01.contoso.com", "mon01.contoso.com", "Finance File Server",
)


#: name → members (short names) of the sample workspace's machine groups, as (display name, members)
WEB_SHOP = ("Contoso Web Shop", ("web01", "web02", "app01", "sql01"))
ORDERS_API = ("Orders API", ("web02", "app02", "pg01"))
#: the second workspace's machine group
DEV_BUILD = ("Build and Test", ("build01", "test01", "test02"))
DEV_SERVERS_GROUP = ("build01.contoso.com", "test01.contoso.com", "test02.contoso.com")


def _guid(label: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{label}.sample.servicemap-sync"))


def _server(estate: Estate, short: str, ip: str, os_name: str, *, display_name: str | None = None,
            upper_guid: bool = False, peer_upper: bool = False, id_form: int = 1, virtual: bool = True,
            guid_label: str | None = None) -> Host:
    windows = os_name.startswith("Microsoft Windows")
    fqdn = f"{short}.{DOMAIN}"
    guid = _guid(guid_label or short)
    return estate.add_host(Host(
        name="m-" + (guid.upper() if upper_guid else guid), display_name=display_name or short, ipv4=(ip,),
        computer_name=short.upper() if windows else short, fqdn=fqdn, dns_names=(fqdn,),
        os_family="windows" if windows else "linux", os_full_name=os_name, peer_upper=peer_upper,
        id_form=id_form, virtual=virtual,
    ))


def build_estate() -> Estate:
    """The sample estate's hosts, processes and links."""
    e = Estate()
    dc01 = _server(e, "dc01", "10.0.0.10", WINDOWS_2022, peer_upper=True)
    mon01 = _server(e, "mon01", "10.0.0.20", UBUNTU)
    build01 = _server(e, "build01", "10.0.0.30", WINDOWS_2022, id_form=3)
    file01 = _server(e, "file01", "10.0.0.40", WINDOWS_2019, display_name="Finance File Server")
    web01 = _server(e, "web01", "10.0.1.11", WINDOWS_2022)
    web02 = _server(e, "web02", "10.0.1.12", UBUNTU, virtual=False)
    app01 = _server(e, "app01", "10.0.2.21", WINDOWS_2019, upper_guid=True)
    app02 = _server(e, "app02", "10.0.2.22", RHEL)
    sql01 = _server(e, "sql01", "10.0.3.31", WINDOWS_2019)
    pg01 = _server(e, "pg01", "10.0.3.32", UBUNTU, id_form=2)
    windows = (dc01, build01, file01, web01, app01, sql01)
    linux = (mon01, web02, app02, pg01)
    ms = "Microsoft Corporation"
    win_os = "Microsoft Windows Operating System"
    win_ver = "10.0.20348.2340"

    # Domain controller: Kerberos and LDAP (lsass), DNS, SMB (System).
    lsass_dc = e.run(dc01, "lsass.exe", display_name="Local Security Authority Process", role="ldapServer",
                     command_line=r"C:\Windows\system32\lsass.exe", path=r"C:\Windows\system32\lsass.exe",
                     description="Local Security Authority Process", company=ms, product=win_os,
                     product_version=win_ver, user=r"NT AUTHORITY\SYSTEM", services=("NTDS", "Kdc", "Netlogon"))
    kerberos, ldap = e.listen(lsass_dc, 88), e.listen(lsass_dc, 389)
    dns = e.listen(e.run(dc01, "dns.exe", display_name="DNS Server", command_line=r"C:\Windows\system32\dns.exe",
                         path=r"C:\Windows\system32\dns.exe", description="Domain Name System (DNS) Server",
                         company=ms, product=win_os, product_version=win_ver, services=("DNS",)), 53)
    smb_dc = e.listen(e.run(dc01, "System", role="smbServer", description="NT Kernel & System", company=ms,
                            product=win_os), 445)

    # Every Windows server authenticates against, resolves with and reads SYSVOL from dc01.
    kernel: dict[str, Proc] = {}
    for host in windows:
        if host is dc01:
            continue
        lsass = e.run(host, "lsass.exe", display_name="Local Security Authority Process",
                      command_line=r"C:\Windows\system32\lsass.exe", path=r"C:\Windows\system32\lsass.exe",
                      company=ms, product=win_os)
        e.connect(lsass, kerberos)
        e.connect(lsass, ldap)
        e.connect(e.run(host, "svchost.exe", display_name="Host Process for Windows Services (Dnscache)",
                        command_line=r"C:\Windows\system32\svchost.exe -k NetworkService -p -s Dnscache",
                        path=r"C:\Windows\system32\svchost.exe", company=ms, product=win_os,
                        services=("Dnscache",)), dns)
        kernel[host.name] = e.run(host, "System", description="NT Kernel & System", company=ms, product=win_os)
        e.connect(kernel[host.name], smb_dc)
    for host in linux:  # Linux servers resolve through the DC too
        e.connect(e.run(host, "systemd-resolved", command_line="/lib/systemd/systemd-resolved",
                        path="/lib/systemd/systemd-resolved", user="systemd-resolve"), dns)

    # Monitoring: mon01's Prometheus scrapes an exporter on every other server, itself included.
    prometheus = e.run(mon01, "prometheus", display_name="Prometheus", role="monitoringServer", group="Prometheus",
                       command_line="/usr/local/bin/prometheus --config.file=/etc/prometheus/prometheus.yml",
                       path="/usr/local/bin/prometheus", product="Prometheus", product_version="2.51.2",
                       user="prometheus")
    e.listen(prometheus, 9090)
    for host in (*windows, *linux):
        if host.os_family == "windows":
            exporter = e.run(host, "windows_exporter.exe", display_name="windows_exporter",
                             command_line=r'"C:\Program Files\windows_exporter\windows_exporter.exe"',
                             path=r"C:\Program Files\windows_exporter\windows_exporter.exe",
                             product="windows_exporter", product_version="0.25.1", services=("windows_exporter",))
            e.connect(prometheus, e.listen(exporter, 9182))
        else:
            exporter = e.run(host, "node_exporter", command_line="/usr/local/bin/node_exporter",
                             path="/usr/local/bin/node_exporter", product="node_exporter", product_version="1.8.0",
                             user="node_exporter")
            e.connect(prometheus, e.listen(exporter, 9100))

    # Web tier: IIS on web01, nginx on web02; browsers reach both as client groups.
    w3wp = e.run(web01, "w3wp.exe", display_name="IIS Worker Process", role="webServer",
                 group="Internet Information Services", command_line=r'c:\windows\system32\inetsrv\w3wp.exe -ap "Shop"',
                 path=r"c:\windows\system32\inetsrv\w3wp.exe", description="IIS Worker Process", company=ms,
                 product="Internet Information Services", product_version="10.0.20348.1", user=r"IIS APPPOOL\Shop")
    web01_https, web01_http = e.listen(w3wp, 443), e.listen(w3wp, 80)
    e.connect(Clients(web01_https, "process"), web01_https)
    e.connect(Clients(web01_http, "process"), web01_http)
    nginx = e.run(web02, "nginx", role="webServer", group="nginx", command_line="nginx: worker process",
                  path="/usr/sbin/nginx", product="nginx", product_version="1.24.0", user="www-data")
    web02_https, web02_http = e.listen(nginx, 443), e.listen(nginx, 80)
    e.connect(Clients(web02_https, "port"), web02_https)
    e.connect(Clients(web02_http, "machine"), web02_http)

    # Application tier.
    orders = e.run(app01, "Contoso.Orders.Service.exe", display_name="Contoso Orders Service", role="appServer",
                   group="Contoso Orders", command_line=r'"D:\Apps\Orders\Contoso.Orders.Service.exe" --urls https://*:8443',
                   path=r"D:\Apps\Orders\Contoso.Orders.Service.exe", description="Contoso Orders Service",
                   company="Contoso Ltd.", product="Contoso Orders", product_version="4.2.0.0",
                   user=r"CONTOSO\svc-orders", services=("ContosoOrders",))
    orders_https = e.listen(orders, 8443)
    tomcat = e.run(app01, "java.exe", display_name="Apache Tomcat", role="appServer", group="Apache Tomcat",
                   command_line=r'"C:\Program Files\Java\jre\bin\java.exe" -Dcatalina.home=C:\Tomcat org.apache.catalina.startup.Bootstrap start',
                   path=r"C:\Program Files\Java\jre\bin\java.exe", product="Apache Tomcat", product_version="9.0.88",
                   user=r"CONTOSO\svc-tomcat", services=("Tomcat9",))
    e.connect(orders, e.listen(tomcat, 8081))                 # self-link over the host address
    e.connect(w3wp, orders_https)
    e.connect(w3wp, e.discovered("203.0.113.10", 443, display_name="api.payments.example",
                                 dns_names=("api.payments.example",)))
    e.connect(orders, e.listen(e.run(sql01, "sqlservr.exe", display_name="SQL Server (MSSQLSERVER)",
                                     role="databaseServer", group="Microsoft SQL Server",
                                     command_line=r'"C:\Program Files\Microsoft SQL Server\MSSQL16.MSSQLSERVER\MSSQL\Binn\sqlservr.exe" -sMSSQLSERVER',
                                     path=r"C:\Program Files\Microsoft SQL Server\MSSQL16.MSSQLSERVER\MSSQL\Binn\sqlservr.exe",
                                     company=ms, product="Microsoft SQL Server", product_version="2022.160.4115.5",
                                     user=r"NT Service\MSSQLSERVER", services=("MSSQLSERVER",)), 1433))
    e.connect(orders, e.discovered("10.0.9.99", 8080, display_name="old-app03.contoso.com",
                                   dns_names=("old-app03.contoso.com",), role="appServer"), "failed")
    e.connect(kernel[app01.name], e.listen(kernel[file01.name], 445))      # file shares on file01
    winrm = e.listen(kernel[app01.name], 5985)                              # http.sys (System) serves WinRM
    spring = e.run(app02, "java", display_name="orders-api", role="appServer", group="Spring Boot",
                   command_line="/usr/bin/java -Xmx2g -jar /opt/orders-api/orders-api.jar",
                   path="/usr/lib/jvm/java-17-openjdk/bin/java", product="OpenJDK", product_version="17.0.10",
                   user="orders")
    orders_api = e.listen(spring, 8080)
    e.connect(nginx, orders_api, "mixed")
    redis = e.run(app02, "redis-server", role="cacheServer", group="Redis",
                  command_line="/usr/bin/redis-server 127.0.0.1:6379", path="/usr/bin/redis-server",
                  product="Redis", product_version="7.2.4", user="redis")
    e.connect(spring, e.listen(redis, 6379, "127.0.0.1"))       # loopback
    e.connect(spring, e.discovered("10.0.5.99", 25, display_name="???"))
    e.connect(spring, e.listen(e.run(pg01, "postgres", display_name="PostgreSQL", role="databaseServer",
                                     group="PostgreSQL", command_line="/usr/lib/postgresql/16/bin/postgres -D /var/lib/postgresql/16/main",
                                     path="/usr/lib/postgresql/16/bin/postgres", product="PostgreSQL",
                                     product_version="16.2", user="postgres"), 5432))

    # build01 (outside the Servers Group) deploys to app01 over WinRM and smoke-tests web01.
    agent = e.run(build01, "Agent.Listener.exe", display_name="Azure Pipelines Agent", group="Azure Pipelines",
                  command_line=r'"C:\agent\bin\Agent.Listener.exe" run --startuptype service',
                  path=r"C:\agent\bin\Agent.Listener.exe", product="Azure Pipelines Agent",
                  product_version="3.236.1", user=r"CONTOSO\svc-build", services=("vstsagent.contoso.build01",))
    e.connect(agent, winrm)
    e.connect(agent, web01_https)
    return e


def build_dev_estate() -> Estate:
    """The second workspace's hosts, processes and links: build01 registered again (another agent
    id, the same FQDN), deploying to test01 over WinRM and smoke-testing its site; test01's IIS
    uses PostgreSQL on test02; both test servers resolve through dc01, which this workspace only
    sees as a discovered peer."""
    e = Estate()
    build01 = _server(e, "build01", "10.0.0.30", WINDOWS_2022, guid_label="build01.dev")
    test01 = _server(e, "test01", "10.1.0.11", WINDOWS_2022, id_form=2)
    test02 = _server(e, "test02", "10.1.0.12", UBUNTU, id_form=3)
    ms = "Microsoft Corporation"
    agent = e.run(build01, "Agent.Listener.exe", display_name="Azure Pipelines Agent", group="Azure Pipelines",
                  command_line=r'"C:\agent\bin\Agent.Listener.exe" run --startuptype service',
                  path=r"C:\agent\bin\Agent.Listener.exe", product="Azure Pipelines Agent",
                  product_version="3.236.1", user=r"CONTOSO\svc-build", services=("vstsagent.contoso.build01",))
    winrm = e.listen(e.run(test01, "System", description="NT Kernel & System", company=ms,
                           product="Microsoft Windows Operating System"), 5985)
    w3wp = e.run(test01, "w3wp.exe", display_name="IIS Worker Process", role="webServer",
                 group="Internet Information Services", command_line=r'c:\windows\system32\inetsrv\w3wp.exe -ap "ShopTest"',
                 path=r"c:\windows\system32\inetsrv\w3wp.exe", company=ms, product="Internet Information Services",
                 user=r"IIS APPPOOL\ShopTest")
    site = e.listen(w3wp, 443)
    e.connect(agent, winrm)
    e.connect(agent, site)
    e.connect(Clients(site, "process"), site)
    postgres = e.run(test02, "postgres", display_name="PostgreSQL", role="databaseServer", group="PostgreSQL",
                     command_line="/usr/lib/postgresql/16/bin/postgres -D /var/lib/postgresql/16/main",
                     path="/usr/lib/postgresql/16/bin/postgres", product="PostgreSQL", product_version="16.2",
                     user="postgres")
    e.connect(w3wp, e.listen(postgres, 5432))
    dns = e.discovered("10.0.0.10", 53, display_name="dc01.contoso.com", dns_names=("dc01.contoso.com",))
    e.connect(e.run(test01, "svchost.exe", display_name="Host Process for Windows Services (Dnscache)",
                    command_line=r"C:\Windows\system32\svchost.exe -k NetworkService -p -s Dnscache",
                    services=("Dnscache",)), dns)
    e.connect(e.run(test02, "systemd-resolved", command_line="/lib/systemd/systemd-resolved",
                    user="systemd-resolve"), dns, "mixed")
    return e


def _host(estate: Estate, short: str) -> Host:
    return next(h for h in estate.monitored_hosts() if h.fqdn == f"{short}.{DOMAIN}")


def _group(ws: WorkspaceRef, estate: Estate, spec: tuple[str, tuple[str, ...]], **options: object) -> dict:
    display, members = spec
    return machine_group_resource(ws, _guid(f"group-{display}"), display,
                                  tuple(_host(estate, short) for short in members), **options)


def dev_scenario() -> Scenario:
    """The second workspace (``law-contoso-dev``): same tenant and service principal, its own
    subscription, resource group and machines."""
    ws = WorkspaceRef(subscription_id=_guid("subscription-dev"), resource_group="rg-monitoring-dev",
                      workspace_name="law-contoso-dev", customer_id=_guid("workspace-dev"))
    estate = build_dev_estate()
    return estate_scenario(ws, estate, tenant_id=_guid("tenant"), client_id=_guid("client"), location="northeurope",
                           servers_group=DEV_SERVERS_GROUP,
                           machine_groups=(_group(ws, estate, DEV_BUILD, group_type="unknown"),))


def sample_scenario() -> Scenario:
    """The sample estate as a :class:`Scenario` (what ``samples/estate`` holds), with the second
    workspace as its :attr:`~.Scenario.other_workspaces`."""
    ws = WorkspaceRef(subscription_id=_guid("subscription"), resource_group="rg-monitoring",
                      workspace_name="law-contoso-prod", customer_id=_guid("workspace"))
    estate = build_estate()
    groups = (_group(ws, estate, WEB_SHOP), _group(ws, estate, ORDERS_API, id_form=3, hints=False))
    return estate_scenario(ws, estate, tenant_id=_guid("tenant"), client_id=_guid("client"),
                           location="westeurope", servers_group=SERVERS_GROUP, machine_groups=groups,
                           other_workspaces=(dev_scenario(),))


def main(argv: list[str] | None = None) -> None:
    """Regenerate the committed sample files."""
    parser = argparse.ArgumentParser(description="Write the sample estate in the emulator's scenario layout.")
    parser.add_argument("out_dir", type=Path, help="usually samples/estate")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    write_scenario(sample_scenario(), args.out_dir)


if __name__ == "__main__":
    main()
