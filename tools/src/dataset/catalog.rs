//! Static label dimensions and metric families of the generated dataset.
//!
//! Families are node-exporter-like (job `node`) and Prometheus-self-metrics-like (job
//! `prometheus`). Each family's label sets are the cartesian product of its dimensions; a
//! dimension may set several coupled labels at once (a mount sets device, fstype, mountpoint).

/// Whether a family behaves like a counter (grows with time) or a gauge (oscillates).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Monotonically increasing value.
    Counter,
    /// Value oscillating around a base.
    Gauge,
}

/// A label dimension: `names` are set together from one row of `rows`.
pub struct Dim {
    /// Label names set by this dimension.
    pub names: &'static [&'static str],
    /// Rows of values, each as long as `names`.
    pub rows: &'static [&'static [&'static str]],
}

/// A metric family and the dimensions its series vary over.
pub struct Family {
    /// Metric name.
    pub name: &'static str,
    /// Counter or gauge.
    pub kind: Kind,
    /// Dimensions (cartesian product); empty means one series.
    pub dims: &'static [&'static Dim],
}

macro_rules! dim1 {
    ($name:literal, [$($v:literal),* $(,)?]) => {
        Dim { names: &[$name], rows: &[$(&[$v]),*] }
    };
}

/// CPU numbers.
pub static CPU: Dim = dim1!("cpu", ["0", "1", "2", "3", "4", "5", "6", "7"]);
/// CPU modes.
pub static MODE: Dim = dim1!(
    "mode",
    [
        "idle", "iowait", "irq", "nice", "softirq", "steal", "system", "user"
    ]
);
/// Guest CPU modes.
pub static GUEST_MODE: Dim = dim1!("mode", ["nice", "user"]);
/// Mounted filesystems (12).
pub static MOUNT: Dim = Dim {
    names: &["device", "fstype", "mountpoint"],
    rows: &[
        &["/dev/mapper/vg0-root", "ext4", "/"],
        &["/dev/nvme0n1p2", "ext4", "/boot"],
        &["/dev/nvme0n1p1", "vfat", "/boot/efi"],
        &["/dev/mapper/vg0-home", "ext4", "/home"],
        &["tmpfs", "tmpfs", "/run"],
        &["tmpfs", "tmpfs", "/run/lock"],
        &["tmpfs", "tmpfs", "/run/user/1000"],
        &["/dev/mapper/vg1-backup", "ext4", "/srv/backup"],
        &["/dev/mapper/vg1-data", "xfs", "/srv/data"],
        &["/dev/mapper/vg0-var", "xfs", "/var"],
        &["/dev/mapper/vg1-docker", "xfs", "/var/lib/docker"],
        &["/dev/mapper/vg0-var_log", "xfs", "/var/log"],
    ],
};
/// Block devices.
pub static DISK: Dim = dim1!(
    "device",
    ["dm-0", "dm-1", "nvme0n1", "nvme1n1", "sda", "sdb"]
);
/// Network devices.
pub static NETDEV: Dim = dim1!(
    "device",
    [
        "bond0",
        "br-7c1e0d4a5b2f",
        "cni0",
        "docker0",
        "eth0",
        "eth1",
        "lo",
        "veth3f2a1b9"
    ]
);
/// hwmon chips.
pub static CHIP: Dim = dim1!(
    "chip",
    [
        "platform_coretemp_0",
        "platform_coretemp_1",
        "pci0000:00_0000:00:18_3",
        "platform_nct6775_656"
    ]
);
/// hwmon sensors.
pub static SENSOR: Dim = dim1!(
    "sensor",
    [
        "temp1", "temp2", "temp3", "temp4", "temp5", "temp6", "temp7", "temp8"
    ]
);
/// node_exporter collectors (40).
pub static COLLECTOR: Dim = dim1!(
    "collector",
    [
        "arp",
        "bcache",
        "bonding",
        "btrfs",
        "conntrack",
        "cpu",
        "cpufreq",
        "diskstats",
        "dmi",
        "edac",
        "entropy",
        "fibrechannel",
        "filefd",
        "filesystem",
        "hwmon",
        "infiniband",
        "ipvs",
        "loadavg",
        "mdadm",
        "meminfo",
        "netclass",
        "netdev",
        "netstat",
        "nfs",
        "nfsd",
        "nvme",
        "os",
        "powersupplyclass",
        "pressure",
        "rapl",
        "schedstat",
        "selinux",
        "sockstat",
        "softnet",
        "stat",
        "tapestats",
        "textfile",
        "thermal_zone",
        "time",
        "timex"
    ]
);
/// `node_uname_info` labels (one coupled row).
pub static UNAME: Dim = Dim {
    names: &["domainname", "machine", "release", "sysname", "version"],
    rows: &[&[
        "(none)",
        "x86_64",
        "6.1.0-27-amd64",
        "Linux",
        "#1 SMP PREEMPT_DYNAMIC Debian 6.1.115-1 (2024-11-01)",
    ]],
};
/// Summary quantiles.
pub static QUANTILE: Dim = dim1!("quantile", ["0", "0.25", "0.5", "0.75", "1"]);
/// Prometheus HTTP handlers (20).
pub static HANDLER: Dim = dim1!(
    "handler",
    [
        "/",
        "/-/healthy",
        "/-/ready",
        "/-/reload",
        "/alerts",
        "/api/v1/alerts",
        "/api/v1/label/:name/values",
        "/api/v1/labels",
        "/api/v1/metadata",
        "/api/v1/query",
        "/api/v1/query_exemplars",
        "/api/v1/query_range",
        "/api/v1/rules",
        "/api/v1/series",
        "/api/v1/status/buildinfo",
        "/api/v1/status/config",
        "/api/v1/targets",
        "/federate",
        "/graph",
        "/metrics"
    ]
);
/// Histogram buckets.
pub static LE: Dim = dim1!(
    "le",
    [
        "0.1", "0.2", "0.4", "1", "3", "8", "20", "60", "120", "+Inf"
    ]
);
/// HTTP codes.
pub static CODE: Dim = dim1!("code", ["200"]);

macro_rules! fam {
    ($name:literal, $kind:ident) => {
        Family { name: $name, kind: Kind::$kind, dims: &[] }
    };
    ($name:literal, $kind:ident, [$($d:ident),*]) => {
        Family { name: $name, kind: Kind::$kind, dims: &[$(&$d),*] }
    };
}

/// node_exporter families, in exposition order (574 series per instance before filler).
pub static NODE_FAMILIES: &[Family] = &[
    fam!("node_cpu_seconds_total", Counter, [CPU, MODE]),
    fam!("node_cpu_guest_seconds_total", Counter, [CPU, GUEST_MODE]),
    fam!("node_cpu_scaling_frequency_hertz", Gauge, [CPU]),
    fam!("node_filesystem_avail_bytes", Gauge, [MOUNT]),
    fam!("node_filesystem_size_bytes", Gauge, [MOUNT]),
    fam!("node_filesystem_free_bytes", Gauge, [MOUNT]),
    fam!("node_filesystem_files", Gauge, [MOUNT]),
    fam!("node_filesystem_files_free", Gauge, [MOUNT]),
    fam!("node_filesystem_readonly", Gauge, [MOUNT]),
    fam!("node_filesystem_device_error", Gauge, [MOUNT]),
    fam!("node_disk_reads_completed_total", Counter, [DISK]),
    fam!("node_disk_writes_completed_total", Counter, [DISK]),
    fam!("node_disk_read_bytes_total", Counter, [DISK]),
    fam!("node_disk_written_bytes_total", Counter, [DISK]),
    fam!("node_disk_io_time_seconds_total", Counter, [DISK]),
    fam!("node_disk_read_time_seconds_total", Counter, [DISK]),
    fam!("node_disk_write_time_seconds_total", Counter, [DISK]),
    fam!("node_disk_io_now", Gauge, [DISK]),
    fam!("node_disk_discards_completed_total", Counter, [DISK]),
    fam!("node_disk_reads_merged_total", Counter, [DISK]),
    fam!("node_disk_writes_merged_total", Counter, [DISK]),
    fam!("node_disk_io_time_weighted_seconds_total", Counter, [DISK]),
    fam!("node_network_receive_bytes_total", Counter, [NETDEV]),
    fam!("node_network_transmit_bytes_total", Counter, [NETDEV]),
    fam!("node_network_receive_packets_total", Counter, [NETDEV]),
    fam!("node_network_transmit_packets_total", Counter, [NETDEV]),
    fam!("node_network_receive_errs_total", Counter, [NETDEV]),
    fam!("node_network_transmit_errs_total", Counter, [NETDEV]),
    fam!("node_network_receive_drop_total", Counter, [NETDEV]),
    fam!("node_network_transmit_drop_total", Counter, [NETDEV]),
    fam!("node_network_receive_multicast_total", Counter, [NETDEV]),
    fam!("node_network_up", Gauge, [NETDEV]),
    fam!("node_network_mtu_bytes", Gauge, [NETDEV]),
    fam!("node_network_speed_bytes", Gauge, [NETDEV]),
    fam!("node_network_carrier", Gauge, [NETDEV]),
    fam!("node_network_transmit_queue_length", Gauge, [NETDEV]),
    fam!("node_hwmon_temp_celsius", Gauge, [CHIP, SENSOR]),
    fam!("node_scrape_collector_duration_seconds", Gauge, [COLLECTOR]),
    fam!("node_scrape_collector_success", Gauge, [COLLECTOR]),
    fam!("node_uname_info", Gauge, [UNAME]),
    fam!("node_load1", Gauge),
    fam!("node_load5", Gauge),
    fam!("node_load15", Gauge),
    fam!("node_boot_time_seconds", Gauge),
    fam!("node_time_seconds", Gauge),
    fam!("node_context_switches_total", Counter),
    fam!("node_forks_total", Counter),
    fam!("node_intr_total", Counter),
    fam!("node_procs_running", Gauge),
    fam!("node_procs_blocked", Gauge),
    fam!("node_entropy_available_bits", Gauge),
    fam!("node_filefd_allocated", Gauge),
    fam!("node_filefd_maximum", Gauge),
    fam!("node_sockstat_sockets_used", Gauge),
    fam!("node_timex_offset_seconds", Gauge),
];

/// Unlabelled node gauges (memory, netstat, vmstat), appended after [`NODE_FAMILIES`].
pub static NODE_PLAIN_GAUGES: &[&str] = &[
    "node_memory_Active_anon_bytes",
    "node_memory_Active_bytes",
    "node_memory_Active_file_bytes",
    "node_memory_AnonHugePages_bytes",
    "node_memory_AnonPages_bytes",
    "node_memory_Bounce_bytes",
    "node_memory_Buffers_bytes",
    "node_memory_Cached_bytes",
    "node_memory_CommitLimit_bytes",
    "node_memory_Committed_AS_bytes",
    "node_memory_DirectMap1G_bytes",
    "node_memory_DirectMap2M_bytes",
    "node_memory_DirectMap4k_bytes",
    "node_memory_Dirty_bytes",
    "node_memory_HardwareCorrupted_bytes",
    "node_memory_HugePages_Free",
    "node_memory_HugePages_Rsvd",
    "node_memory_HugePages_Surp",
    "node_memory_HugePages_Total",
    "node_memory_Hugepagesize_bytes",
    "node_memory_Inactive_anon_bytes",
    "node_memory_Inactive_bytes",
    "node_memory_Inactive_file_bytes",
    "node_memory_KernelStack_bytes",
    "node_memory_Mapped_bytes",
    "node_memory_MemAvailable_bytes",
    "node_memory_MemFree_bytes",
    "node_memory_MemTotal_bytes",
    "node_memory_Mlocked_bytes",
    "node_memory_NFS_Unstable_bytes",
    "node_memory_PageTables_bytes",
    "node_memory_Percpu_bytes",
    "node_memory_SReclaimable_bytes",
    "node_memory_SUnreclaim_bytes",
    "node_memory_Shmem_bytes",
    "node_memory_Slab_bytes",
    "node_memory_SwapCached_bytes",
    "node_memory_SwapFree_bytes",
    "node_memory_SwapTotal_bytes",
    "node_memory_Writeback_bytes",
    "node_netstat_Icmp6_InErrors",
    "node_netstat_Icmp6_InMsgs",
    "node_netstat_Icmp6_OutMsgs",
    "node_netstat_Icmp_InErrors",
    "node_netstat_Icmp_InMsgs",
    "node_netstat_Icmp_OutMsgs",
    "node_netstat_Ip6_InOctets",
    "node_netstat_Ip6_OutOctets",
    "node_netstat_IpExt_InOctets",
    "node_netstat_IpExt_OutOctets",
    "node_netstat_Ip_Forwarding",
    "node_netstat_TcpExt_ListenDrops",
    "node_netstat_TcpExt_ListenOverflows",
    "node_netstat_TcpExt_SyncookiesFailed",
    "node_netstat_TcpExt_SyncookiesRecv",
    "node_netstat_TcpExt_SyncookiesSent",
    "node_netstat_TcpExt_TCPSynRetrans",
    "node_netstat_TcpExt_TCPTimeouts",
    "node_netstat_Tcp_ActiveOpens",
    "node_netstat_Tcp_CurrEstab",
    "node_netstat_Tcp_InErrs",
    "node_netstat_Tcp_InSegs",
    "node_netstat_Tcp_OutRsts",
    "node_netstat_Tcp_OutSegs",
    "node_netstat_Tcp_PassiveOpens",
    "node_netstat_Tcp_RetransSegs",
    "node_netstat_Udp6_InDatagrams",
    "node_netstat_Udp6_InErrors",
    "node_netstat_Udp6_NoPorts",
    "node_netstat_Udp6_OutDatagrams",
    "node_vmstat_oom_kill",
    "node_vmstat_pgfault",
    "node_vmstat_pgmajfault",
    "node_vmstat_pgpgin",
    "node_vmstat_pgpgout",
    "node_vmstat_pswpin",
    "node_vmstat_pswpout",
];

/// Prometheus self-metric families, in exposition order.
pub static PROMETHEUS_FAMILIES: &[Family] = &[
    fam!("go_gc_duration_seconds", Gauge, [QUANTILE]),
    fam!("go_gc_duration_seconds_sum", Counter),
    fam!("go_gc_duration_seconds_count", Counter),
    fam!("go_goroutines", Gauge),
    fam!("go_threads", Gauge),
    fam!("go_memstats_alloc_bytes", Gauge),
    fam!("go_memstats_alloc_bytes_total", Counter),
    fam!("go_memstats_heap_alloc_bytes", Gauge),
    fam!("go_memstats_heap_idle_bytes", Gauge),
    fam!("go_memstats_heap_inuse_bytes", Gauge),
    fam!("go_memstats_heap_objects", Gauge),
    fam!("go_memstats_heap_released_bytes", Gauge),
    fam!("go_memstats_heap_sys_bytes", Gauge),
    fam!("go_memstats_mallocs_total", Counter),
    fam!("go_memstats_frees_total", Counter),
    fam!("go_memstats_sys_bytes", Gauge),
    fam!("process_cpu_seconds_total", Counter),
    fam!("process_resident_memory_bytes", Gauge),
    fam!("process_open_fds", Gauge),
    fam!(
        "prometheus_http_request_duration_seconds_bucket",
        Counter,
        [HANDLER, LE]
    ),
    fam!(
        "prometheus_http_request_duration_seconds_sum",
        Counter,
        [HANDLER]
    ),
    fam!(
        "prometheus_http_request_duration_seconds_count",
        Counter,
        [HANDLER]
    ),
    fam!("prometheus_http_requests_total", Counter, [CODE, HANDLER]),
    fam!("prometheus_tsdb_head_series", Gauge),
    fam!("prometheus_tsdb_head_chunks", Gauge),
    fam!("prometheus_tsdb_head_samples_appended_total", Counter),
    fam!("prometheus_tsdb_head_series_created_total", Counter),
    fam!("prometheus_tsdb_head_series_removed_total", Counter),
    fam!("prometheus_tsdb_head_gc_duration_seconds_sum", Counter),
    fam!("prometheus_tsdb_compactions_total", Counter),
    fam!("prometheus_tsdb_blocks_loaded", Gauge),
    fam!("prometheus_tsdb_storage_blocks_bytes", Gauge),
    fam!("prometheus_tsdb_wal_fsync_duration_seconds_sum", Counter),
    fam!("prometheus_tsdb_wal_segment_current", Gauge),
    fam!("prometheus_tsdb_symbol_table_size_bytes", Gauge),
    fam!("prometheus_engine_queries", Gauge),
    fam!("prometheus_rule_evaluations_total", Counter),
    fam!("prometheus_web_federation_errors_total", Counter),
];

/// Per scrape job filler families of a Prometheus instance: `(name, kind, extra dims)`;
/// every one also carries the scrape job's own label (see `dataset::for_each_prometheus`).
pub static SCRAPE_JOB_FAMILIES: &[Family] = &[
    fam!("prometheus_target_sync_length_seconds", Gauge, [QUANTILE]),
    fam!("prometheus_target_sync_length_seconds_sum", Counter),
    fam!("prometheus_target_sync_length_seconds_count", Counter),
    fam!("prometheus_target_scrape_pool_targets", Gauge),
    fam!("prometheus_target_scrape_pool_sync_total", Counter),
    fam!("prometheus_sd_discovered_targets", Gauge),
    fam!("net_conntrack_dialer_conn_attempted_total", Counter),
    fam!("net_conntrack_dialer_conn_closed_total", Counter),
    fam!("net_conntrack_dialer_conn_established_total", Counter),
    fam!(
        "net_conntrack_dialer_conn_failed_total",
        Counter,
        [FAIL_REASON]
    ),
];

/// Dial failure reasons.
pub static FAIL_REASON: Dim = dim1!("reason", ["refused", "resolution", "timeout", "unknown"]);

/// systemd unit states (per-unit filler of a node instance).
pub static UNIT_STATE: Dim = dim1!(
    "state",
    ["activating", "active", "deactivating", "failed", "inactive"]
);

/// systemd unit state family (filler of a node instance; also carries `name` and `type`).
pub static SYSTEMD_UNIT_STATE: Family = fam!("node_systemd_unit_state", Gauge, [UNIT_STATE]);
