import { ArmError } from '../arm/errors.js';
import { prepareTemplate } from './evaluator.js';

const scope = { subscriptionId: 'sub-1', tenantId: 't', resourceGroup: { name: 'rg1', location: 'dbelocal' }, deploymentName: 'd1' };

function error(fn: () => unknown): ArmError {
  try {
    fn();
  } catch (e) {
    if (e instanceof ArmError) return e;
    throw e;
  }
  throw new Error('expected an ArmError');
}

describe('prepareTemplate', () => {
  const template = {
    apiProfile: '2020-09-01-hybrid',
    parameters: {
      name: { type: 'string' },
      secret: { type: 'securestring' },
      ip: { type: 'string', defaultValue: '' },
      rg: { type: 'string', defaultValue: 'ASERG' },
    },
    variables: {
      vnetId: "[resourceId(parameters('rg'), 'Microsoft.Network/virtualNetworks', 'ASEVNET')]",
      subnet: "[concat(variables('vnetId'), '/subnets/', 'sn')]",
    },
    resources: [
      {
        type: 'Microsoft.Compute/virtualMachines',
        name: "[parameters('name')]",
        location: '[resourceGroup().location]',
        dependsOn: ["[concat('Microsoft.Network/networkInterfaces/', parameters('name'), '-nic')]"],
        properties: { pw: "[parameters('secret')]", literal: '[[not an expression]' },
      },
      {
        type: 'Microsoft.Network/networkInterfaces',
        name: "[concat(parameters('name'), '-nic')]",
        properties: {
          method: "[if(equals(parameters('ip'), ''), 'Dynamic', 'Static')]",
          subnet: "[variables('subnet')]",
          own: "[resourceId('Microsoft.Network/networkInterfaces', 'x')]",
          sub: "[resourceId('sub-2', 'rg2', 'Microsoft.Network/virtualNetworks/subnets', 'v', 's')]",
          idx: "[createArray('a', 'b')[1]]",
          prop: "[resourceGroup().name]",
        },
      },
    ],
    outputs: { where: { type: 'string', value: "[reference(resourceId('Microsoft.Network/networkInterfaces', 'x')).ip]" } },
  };
  const parameters = { name: { value: 'vm1' }, secret: { value: 'p@ss' } };

  it('evaluates parameters, variables and functions and orders by dependsOn', () => {
    const prepared = prepareTemplate(template, parameters, scope);
    expect(prepared.resources.map((r) => r.type)).toEqual(['Microsoft.Network/networkInterfaces', 'Microsoft.Compute/virtualMachines']);
    const [nic, vm] = prepared.resources;
    expect(nic?.properties).toEqual({
      method: 'Dynamic',
      subnet: '/subscriptions/sub-1/resourceGroups/ASERG/providers/Microsoft.Network/virtualNetworks/ASEVNET/subnets/sn',
      own: '/subscriptions/sub-1/resourceGroups/rg1/providers/Microsoft.Network/networkInterfaces/x',
      sub: '/subscriptions/sub-2/resourceGroups/rg2/providers/Microsoft.Network/virtualNetworks/v/subnets/s',
      idx: 'b',
      prop: 'rg1',
    });
    expect(vm?.location).toBe('dbelocal');
    expect(vm?.properties['literal']).toBe('[not an expression]');
    expect(vm?.dependsOn).toEqual([nic?.id]);
    expect(prepared.outputs(() => ({ ip: '10.0.0.4' }))).toEqual({ where: { type: 'string', value: '10.0.0.4' } });
  });

  it('never echoes secure parameters', () => {
    const prepared = prepareTemplate(template, parameters, scope);
    expect(prepared.echoedParameters['secret']).toEqual({ type: 'SecureString' });
    expect(JSON.stringify(prepared.echoedParameters)).not.toContain('p@ss');
  });

  it('names an unknown function even in an untaken branch', () => {
    const t = { ...template, variables: { ...template.variables, x: "[if(true(), 'a', frobnicate('b'))]" } };
    const e = error(() => prepareTemplate(t, parameters, scope));
    expect(e.code).toBe('InvalidTemplate');
    expect(e.message).toContain("'frobnicate'");
  });

  it('rejects missing and mistyped parameters, extra parameters, cycles and unknown dependencies', () => {
    expect(error(() => prepareTemplate(template, { name: { value: 'vm1' } }, scope)).message).toContain("'secret' is not provided");
    expect(error(() => prepareTemplate(template, { ...parameters, name: { value: 3 } }, scope)).message).toContain("'name' is not valid");
    expect(error(() => prepareTemplate(template, { ...parameters, other: { value: 1 } }, scope)).message).toContain('other');
    const cyclic = {
      apiProfile: '2020-09-01-hybrid',
      resources: [
        { type: 'A.B/c', name: 'x', dependsOn: ['A.B/c/y'] },
        { type: 'A.B/c', name: 'y', dependsOn: ['x'] },
      ],
    };
    expect(error(() => prepareTemplate(cyclic, {}, scope)).message).toContain('Circular');
    const dangling = { apiProfile: '2020-09-01-hybrid', resources: [{ type: 'A.B/c', name: 'x', dependsOn: ['nope'] }] };
    expect(error(() => prepareTemplate(dangling, {}, scope)).message).toContain("'nope' is not defined");
    expect(error(() => prepareTemplate({ resources: [{ type: 'A.B/c', name: 'x' }] }, {}, scope)).message).toContain('apiVersion');
    expect(error(() => prepareTemplate({ resources: "[concat('a'" }, {}, scope)).code).toBe('InvalidTemplate');
  });

  it('skips resources whose condition is false', () => {
    const t = { apiProfile: '2020-09-01-hybrid', parameters: { on: { type: 'bool' } }, resources: [{ condition: "[parameters('on')]", type: 'A.B/c', name: 'x' }] };
    expect(prepareTemplate(t, { on: { value: false } }, scope).resources).toHaveLength(0);
    expect(prepareTemplate(t, { on: { value: true } }, scope).resources).toHaveLength(1);
  });
});
