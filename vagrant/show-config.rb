# Prints, as JSON, how Vagrant itself resolves every machine of the Vagrantfile for one
# provider: networking, SSH endpoint, provider settings. Nothing is booted and no box,
# libvirtd or VirtualBox is needed: it loads the Vagrantfile through Vagrant's own
# Ruby API (Debian's vagrant package puts it on Ruby's load path).
#
#   ruby vagrant/show-config.rb [libvirt|virtualbox]
#
# The same HARNESS_* environment variables as for `vagrant up` apply (see the
# Vagrantfile), so a test can ask what a machine gets in each networking mode.
require "json"
require "tmpdir"
require "vagrant"

provider = (ARGV[0] || "libvirt").to_sym
root = File.expand_path("..", __dir__)

def plain(value)
  case value
  when Hash then value.map { |k, v| [k.to_s, plain(v)] }.to_h
  when Array then value.map { |v| plain(v) }
  when Symbol then value.to_s
  when String, Integer, Float, TrueClass, FalseClass, NilClass then value
  else value.to_s
  end
end

Dir.mktmpdir do |data|
  env = Vagrant::Environment.new(cwd: root, local_data_path: data, ui_class: Vagrant::UI::Silent)
  machines = {}
  env.machine_names.each do |name|
    config = env.vagrantfile.machine_config(name, provider, env.boxes, nil, false)[:config]
    pc = config.vm.get_provider_config(provider)
    settings = {}
    if provider == :libvirt
      %i[driver uri mgmt_attach management_network_name management_network_mode qemu_use_agent
         qemu_use_session forward_ssh_port qemu_args suspend_mode].each { |key| settings[key] = pc.send(key) }
    elsif provider == :virtualbox
      settings[:network_adapters] = pc.network_adapters
    end
    machines[name] = {
      box: config.vm.box,
      guest: config.vm.guest,
      networks: config.vm.networks,
      ssh: { host: config.ssh.host, port: config.ssh.port, shell: config.ssh.shell },
      provider: settings,
      provisioners: config.vm.provisioners.map { |p| { name: p.name, inline: p.config.inline } },
    }
  end
  puts JSON.generate(plain(machines))
end
